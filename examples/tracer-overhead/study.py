"""The tracer-overhead study, through ``choreograph.api``.

1. Calibrate the untraced Python client so that its own CPU share, ``cpu_share``, is
   70 % ± 0.5 of one core, in the baseline's own composition (``choreo calibrate -f``
   with the knob driven in the client group only).
2. For each client language, run the untraced baseline and the traced client against a
   mock collector in each mode (typical, slow_succeed, slow_fail) as series, until the
   per-run mean of ``unit_cpu`` (CPU µs per unit of work) is known within 2 % (at most
   ``--max-runs``), one composition per condition: a controller and one client.
3. Compare each traced condition with its baseline (Welch's t-test on the per-run means,
   their intervals, Shapiro-Wilk of each series) and print a table.

The study's ids go to ``<home>/tracer-overhead/study.json``, which ``analysis.ipynb``
reads. ``--small`` is the CI configuration: short runs, a loose calibration, two
conditions, three runs each. ``--exporter grpc`` has the traced Python client export over
OTLP/gRPC to gRPC collectors (``protocol = "grpc"``, the ``grpc`` extra) instead of
OTLP/HTTP; the Node client exports over OTLP/HTTP only. ``study.json`` is written after
each condition (``"complete": false`` until the last), and ``--resume`` carries on an
interrupted study from it with the same configuration.

    python examples/tracer-overhead/study.py --home /tmp/study [--small] [--languages python,node]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

from choreograph.api import Controller, Series

PLAN = Path(__file__).resolve().parent
CASE = "overhead"
METRIC = "unit_cpu"
MODES = ("typical", "slow_succeed", "slow_fail")
BUILDERS = {"python": "exec:python", "node": "exec:node"}
EXPORTERS = {"python": ("http", "grpc"), "node": ("http",)}
"""The protocols each client can export over."""


@dataclass(frozen=True)
class Config:
    duration: str
    target: float
    tolerance: float
    iterations: int
    modes: tuple[str, ...]
    languages: tuple[str, ...]
    repeat: int | None
    """Runs per condition; None: until stable (rel_ci), at most max_runs."""
    rel_ci: float
    max_runs: int
    exporter: str = "http"
    """How the traced clients export, and so the collectors' protocol: http or grpc."""

    @classmethod
    def of(cls, args: argparse.Namespace) -> Config:
        languages = tuple(args.languages.split(","))
        if unable := [lang for lang in languages if args.exporter not in EXPORTERS[lang]]:
            raise SystemExit(f"--exporter {args.exporter}: the {', '.join(unable)} client cannot")
        if args.small:
            return cls(
                "3s", 70.0, 5.0, 4, ("typical", "slow_fail"), languages, 3, 0.05, 3, args.exporter
            )
        return cls(
            "8s", 70.0, 0.5, 12, MODES, languages, None, args.rel_ci, args.max_runs, args.exporter
        )


def composition(folder: Path, language: str, mode: str, protocol: str = "http") -> Path:
    """A composition of one controller and one client in ``language``, the collector in
    ``mode`` speaking ``protocol``; the test params come from the study."""
    path = folder / f"{language}-{mode}{'' if protocol == 'http' else '-' + protocol}.toml"
    path.write_text(
        f'[global]\nplan = "{PLAN}"\ncase = "{CASE}"\n\n'
        '[[groups]]\nid = "controller"\nbuilder = "exec:python"\ninstances = { count = 1 }\n\n'
        f'[[groups]]\nid = "client"\nbuilder = "{BUILDERS[language]}"\n'
        "instances = { count = 1 }\n\n"
        f'[[services]]\nname = "collector"\nkind = "mock-collector"\nmode = "{mode}"\n'
        f'protocol = "{protocol}"\n'
    )
    return path


def calibrate(c: Controller, config: Config, folder: Path) -> float:
    """The untraced Python client's ``sleep_ms`` for ``cpu_share`` on target, calibrated
    in the very composition its baseline runs in (a controller and one client): the knob
    is driven in the client group only, and the client's own figure is measured."""
    baseline = composition(folder, "python", "typical", config.exporter)
    found = c.calibrate(
        baseline,
        knob="sleep_ms",
        knob_groups=("client",),
        group="client",
        target=config.target,
        tolerance=config.tolerance,
        metric="cpu_share",
        low=0.0,
        high=20.0,
        start=1.0,
        iterations=config.iterations,
        params={"duration": config.duration, "traced": False},
    )
    for it in found.iterations:
        print(f"  sleep_ms {it.knob:.3f} -> cpu_share {it.measured:.2f}%")
    if found.value is None:
        # Not converged: carry on from the closest point, and say so.
        best = min(found.iterations, key=lambda it: abs(it.measured - config.target))
        print(f"calibration {found.status}: {found.reason}; using sleep_ms={best.knob:.3f}")
        return float(best.knob)
    print(f"calibrated: sleep_ms={found.value:.3f} ({found.status})")
    return float(found.value)


def conditions(config: Config) -> list[tuple[str, str, bool]]:
    """(language, mode, traced): per language the baseline, then traced in each mode."""
    out = []
    for language in config.languages:
        out.append((language, "typical", False))
        out.extend((language, mode, True) for mode in config.modes)
    return out


def label(language: str, mode: str, traced: bool) -> str:
    return f"{language}/{mode}" if traced else f"{language}/untraced"


def record_of(
    c: Controller, config: Config, sleep_ms: float, series: dict[str, Series]
) -> dict[str, object]:
    """What ``study.json`` holds: the calibrated knob, the configuration, and per condition
    its series and runs; ``complete`` once every condition has its series."""
    return {
        "home": str(c.home),
        "sleep_ms": sleep_ms,
        "config": vars(config),
        "complete": len(series) == len(conditions(config)),
        "series": {name: s.series_id for name, s in series.items()},
        "runs": {name: [r.run_id for r in s.runs] for name, s in series.items()},
    }


def resumed(c: Controller, config: Config, path: Path) -> tuple[float | None, dict[str, Series]]:
    """The calibration and the finished series of an interrupted study at ``path``, when it
    was made with this configuration; a study takes over an hour, and a lost session
    should cost only the condition it was in."""
    if not path.is_file():
        return None, {}
    found = json.loads(path.read_text())
    if found.get("config") != json.loads(json.dumps(vars(config), default=list)):
        raise SystemExit(
            f"--resume: {path} was made with another configuration: {found.get('config')}"
        )
    series = {name: c.load_series(sid) for name, sid in found.get("series", {}).items()}
    if failed := [name for name, s in series.items() if not s.success]:
        raise SystemExit(f"--resume: {path}: the series of {', '.join(failed)} did not succeed")
    return float(found["sleep_ms"]), series


def run_study(
    c: Controller, config: Config, folder: Path, resume: bool = False
) -> dict[str, object]:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "study.json"
    sleep_ms, series = resumed(c, config, path) if resume else (None, {})
    if sleep_ms is None:
        sleep_ms = calibrate(c, config, folder)
    else:
        print(f"resumed: sleep_ms={sleep_ms:.3f}, {len(series)} condition(s) done")
    for language, mode, traced in conditions(config):
        name = label(language, mode, traced)
        if name in series:
            continue
        params = {"duration": config.duration, "sleep_ms": sleep_ms, "traced": traced,
                  "exporter": config.exporter}  # fmt: skip
        comp = composition(folder, language, mode, config.exporter)
        if config.repeat is not None:
            found = c.series(comp, repeat=config.repeat, metric=METRIC, params=params)
        else:
            found = c.series(
                comp,
                until_stable=METRIC,
                rel_ci=config.rel_ci,
                max_runs=config.max_runs,
                min_runs=5,
                params=params,
            )
        print(f"  {name}: {len(found.runs)} runs, {found.status}")
        if not found.success:
            raise SystemExit(f"{name}: series {found.series_id} failed: {found.stop_reason}")
        series[name] = found
        # Written after every condition, so an interrupted study can --resume.
        path.write_text(json.dumps(record_of(c, config, sleep_ms, series), indent=2, default=list))
    record = record_of(c, config, sleep_ms, series)
    path.write_text(json.dumps(record, indent=2, default=list))
    print(table(c, series))
    return record


def table(c: Controller, series: dict[str, Series]) -> str:
    """Per condition: runs, mean unit_cpu with its interval, Shapiro-Wilk p, and for the
    traced ones the change against the baseline with its interval and Welch's p."""
    head = (
        f"{'condition':<22} {'runs':>4} {'unit_cpu µs':>18} {'SW p':>6} "
        f"{'overhead':>9} {'95% CI of diff µs':>20} {'Welch p':>8}"
    )
    lines = [head, "-" * len(head)]
    for name, s in series.items():
        iv, sw = s.interval, s.normality
        mean = f"{iv.mean:8.1f} ± {iv.half_width:6.1f}" if iv and math.isfinite(iv.sd) else "-"
        row = f"{name:<22} {len(s.runs):>4} {mean:>18} {sw.p if sw else math.nan:>6.2f}"
        base = series.get(f"{name.split('/')[0]}/untraced")
        if base is not None and base is not s:
            cmp = c.compare(base, s, METRIC).result
            ci = f"[{cmp.low:+.1f}, {cmp.high:+.1f}]"
            row += f" {cmp.relative:>+9.1%} {ci:>20} {cmp.welch_p:>8.3g}"
        lines.append(row)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", default=None, help="Choreograph home (default: $CHOREO_HOME)")
    parser.add_argument("--small", action="store_true", help="short runs, few of them (CI)")
    parser.add_argument("--languages", default="python,node", help="client languages")
    parser.add_argument("--rel-ci", type=float, default=0.02, help="stop at this rel. CI")
    parser.add_argument("--max-runs", type=int, default=50, help="runs per condition, at most")
    parser.add_argument(
        "--exporter", default="http", choices=("http", "grpc"), help="OTLP/HTTP or OTLP/gRPC"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="reuse the calibration and finished conditions of an interrupted study",
    )
    args = parser.parse_args(argv)
    config = Config.of(args)
    with Controller(args.home, timeout=300, fail_fast=True) as c:
        run_study(c, config, c.home / "tracer-overhead", resume=args.resume)
    return 0


if __name__ == "__main__":
    sys.exit(main())
