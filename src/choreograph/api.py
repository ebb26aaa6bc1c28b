"""The public Python API: run plans from code and get typed results, no CLI in between.

A harness, a notebook or a pytest suite drives the same engine ``choreo run`` drives,
in-process, and gets objects instead of exit codes and terminal tables::

    from choreograph.api import Controller

    with Controller(home="/tmp/choreo") as c:
        run = c.run("examples/metrics", "work", instances=3, params={"delay": "25ms"})
        assert run.success, run.summary()
        cpu = run.resource_samples()["single/0"].cpu_percent   # one value a second
        bench = c.benchmark("examples/metrics", "noisy", metric="value", repeat=5)
        print(bench.mean, bench.interval)

The module-level :func:`run`, :func:`arun`, :func:`series`, :func:`calibrate` and
:func:`compare` are the same calls on a one-off :class:`Controller`. A failed test is
data (``Run.success`` is False, each instance's outcome says why); exceptions are
Choreograph's own (:class:`~choreograph.errors.InputError` for a plan, case or param that
cannot be used, :class:`~choreograph.errors.BuildError`, …), raised where the CLI would
exit 2, 3 or 4.

Tables are pandas DataFrames built on first use (pandas is imported then, not with this
module), read from the run folder like ``choreo results`` reads them.

Test params given as ``"@calibrated"`` take the knob value the last converged calibration
found (as ``--tp knob=@calibrated`` does).

The module is over the usual size because it is the one public module of the API: the
result types and the controller that makes them are read together, and every name an
outsider needs is found here. It holds no logic of its own beyond turning arguments into
a RunSpec: running, series, calibration and statistics are the engine's and results'.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import warnings
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar, Unpack

from choreograph import progress, workspace
from choreograph.availability import check_config_keys
from choreograph.calibrate import (
    Calibration,
    CalibrationPlan,
    knob_is_integer,
    substitute_calibrated,
)
from choreograph.calibrate import calibrate as _calibrate
from choreograph.config import Settings, load_settings
from choreograph.engine import RunOptions, RunResult, execute
from choreograph.errors import InputError
from choreograph.results import comparison as _comparison
from choreograph.results import stats
from choreograph.results.outcomes import GroupOutcome, InstanceOutcome
from choreograph.series import SeriesPlan, SeriesState, run_series
from choreograph.services import mocks
from choreograph.services.mocks.standalone import MockServices

if TYPE_CHECKING:
    import pandas as pd

    from choreograph.plan.manifest import Manifest
    from choreograph.plan.spec import RunSpec
    from choreograph.results.tables import RunData

__all__ = [
    "Comparison",
    "Controller",
    "MockServices",
    "ResourceSamples",
    "Run",
    "RunArgs",
    "Series",
    "arun",
    "calibrate",
    "compare",
    "run",
    "series",
]

_T = TypeVar("_T")
PathLike = str | os.PathLike[str]


class RunArgs(TypedDict, total=False):
    """What a run is made of, besides the plan and case (all optional).

    ``instances``: instance count of a single-group run (default: the case's default).
    ``params``: test params; Python values are spelt as ``--tp`` would (``True`` →
    ``true``, a dict or list → JSON). ``composition``: a composition file, instead of a
    plan. ``composition_run``: which ``[[runs]]`` entry of it, when it has several.
    ``runner``, ``builder``: ids such as ``local:exec``, ``exec:python``. ``timeout``:
    seconds before the run is stopped (default: the home's ``run_timeout_s``).
    ``fail_fast``: stop at the first failed or crashed instance. ``service_modes``: the
    ``mode`` of mock-collector services for this run, by service name (as
    ``--service-mode NAME=MODE``; their ``groups`` entries keep theirs).
    """

    instances: int
    params: Mapping[str, object]
    composition: PathLike
    composition_run: str
    runner: str
    builder: str
    timeout: float
    fail_fast: bool
    service_modes: Mapping[str, str]


@dataclass(frozen=True)
class ResourceSamples:
    """One instance's resource samples (one a second by default), oldest first."""

    instance: str
    ts: list[int] = field(default_factory=list)
    """Unix nanoseconds of each sample."""
    cpu_percent: list[float] = field(default_factory=list)
    """CPU time over wall time since the previous sample; 100 is one core."""
    rss_bytes: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Run:
    """A finished run: its outcome at once, its tables (read from ``folder``) on demand."""

    run_id: str
    folder: Path
    success: bool
    plan: str
    case: str
    groups: dict[str, GroupOutcome]
    instances: dict[str, InstanceOutcome]
    """Per instance key (``group/index``): status, error, exit status, stderr tail."""
    stop_reason: str = ""
    """Why the run was stopped early (timeout, fail-fast, interrupt); "" when it was not."""
    seconds: float = 0.0

    @classmethod
    def _of(cls, result: RunResult, spec: RunSpec) -> Run:
        return cls(
            run_id=result.run_id,
            folder=result.run_dir,
            success=result.success,
            plan=spec.plan,
            case=spec.case,
            groups={g.group: g for g in result.groups},
            instances={o.key: o for o in result.instances},
            stop_reason=result.stop_reason,
            seconds=result.seconds,
        )

    @cached_property
    def _data(self) -> RunData:
        from choreograph.results.tables import load

        return load(self.folder)

    def failures(self) -> list[InstanceOutcome]:
        """The instances that did not succeed."""
        return [o for o in self.instances.values() if o.status != "success"]

    def outcomes(self) -> pd.DataFrame:
        """One row per instance: group, instance, status, error, returncode, decided_by."""
        return self._data.outcomes

    def metrics(self) -> pd.DataFrame:
        """Every sample the plan recorded (results and diagnostics), one row each."""
        return self._data.metrics

    def resources(self) -> pd.DataFrame:
        """The runner's samples: ``cpu_percent`` and ``rss_bytes`` rows per instance."""
        return self._data.resources

    def messages(self) -> pd.DataFrame:
        """Every message the instances recorded: group, instance, ts, time, text."""
        events = self._data.events
        found = events[events["kind"] == "message"]
        return found[["group", "instance", "ts", "time", "text"]].reset_index(drop=True)

    def resource_samples(self) -> dict[str, ResourceSamples]:
        """Per instance key, its CPU % and RSS as plain lists (no pandas needed). The
        runner samples once a second by default (run config ``sample_interval``), so an
        instance that lived less than that has no samples and no key here."""
        per_ts: dict[str, dict[int, dict[str, float]]] = {}
        for row in self._data.metric_rows(("resources",)):
            per_ts.setdefault(row.instance, {}).setdefault(row.ts, {})[row.name] = row.value
        out: dict[str, ResourceSamples] = {}
        for key, samples in per_ts.items():
            found = ResourceSamples(key)
            for ts, pair in sorted(samples.items()):
                if "cpu_percent" in pair and "rss_bytes" in pair:
                    found.ts.append(ts)
                    found.cpu_percent.append(pair["cpu_percent"])
                    found.rss_bytes.append(int(pair["rss_bytes"]))
            out[key] = found
        return out

    def summary(self) -> str:
        """The outcome as plain text: a line per group, then each instance that failed."""
        verdict = "succeeded" if self.success else "failed"
        reason = f" ({self.stop_reason})" if self.stop_reason else ""
        lines = [f"run {self.run_id} {verdict}{reason} in {self.seconds:.1f}s: {self.folder}"]
        for g in self.groups.values():
            lines.append(
                f"  {g.group}: {g.ok}/{g.total} ok, {g.failed} failed, "
                f"{g.crashed} crashed, {g.stopped} stopped"
            )
        for o in self.failures():
            lines.append(f"  {o.key} {o.status}: {o.error or o.detail}".rstrip())
            lines.extend(f"      {line}" for line in o.stderr_tail.splitlines()[-5:])
        return "\n".join(lines)


@dataclass(frozen=True)
class Series:
    """Repeated runs of one spec, and the statistics of ``metric`` across them."""

    series_id: str
    folder: Path
    metric: str | None
    runs: list[Run]
    means: list[float | None]
    """Per run, the mean of every sample of ``metric`` (None: no metric, or none recorded)."""
    interval: stats.Interval | None
    """Student-t interval of the per-run means (the runs are the replicates)."""
    normality: stats.Normality | None
    """Shapiro-Wilk of the per-run means (None below 3 runs)."""
    status: str
    """``done``, ``stable``, ``max-runs``, ``failed`` or ``interrupted``."""
    stop_reason: str
    success: bool

    @classmethod
    def _of(cls, state: SeriesState, spec: RunSpec, home: Path) -> Series:
        return cls(
            series_id=state.series_id,
            folder=home / "series" / state.series_id,
            metric=state.plan.metric,
            runs=[Run._of(r, spec) for r in state.results],
            means=list(state.means),
            interval=state.interval,
            normality=state.normality,
            status=state.status,
            stop_reason=state.stop_reason,
            success=state.success,
        )

    @property
    def mean(self) -> float | None:
        """The mean of the per-run means."""
        return None if self.interval is None else self.interval.mean

    def frame(self) -> pd.DataFrame:
        """One row per run: run_id, success, seconds, mean."""
        import pandas as pd

        rows = [
            {"run_id": r.run_id, "success": r.success, "seconds": r.seconds, "mean": m}
            for r, m in zip(self.runs, self.means, strict=True)
        ]
        return pd.DataFrame(rows, columns=["run_id", "success", "seconds", "mean"])


@dataclass(frozen=True)
class Comparison(_comparison.Sides):
    """B against A on one metric: Welch's t-test decides, Mann-Whitney U checks. The
    samples compared are ``a`` and ``b`` (labelled ``label_a``, ``label_b``)."""

    result: stats.Comparison
    """Means with intervals, the difference, Welch and Mann-Whitney figures."""

    @property
    def significant(self) -> bool:
        return self.result.significant

    @property
    def difference(self) -> float:
        """mean(B) - mean(A)."""
        return self.result.difference

    @property
    def relative(self) -> float:
        """The difference as a fraction of |mean(A)|."""
        return self.result.relative

    @property
    def verdict(self) -> str:
        return self.result.verdict(self.label_a, self.label_b)

    def frame(self) -> pd.DataFrame:
        """The samples compared, one row each: side (``a``/``b``), label, value."""
        import pandas as pd

        rows = [("a", self.label_a, v) for v in self.a] + [("b", self.label_b, v) for v in self.b]
        return pd.DataFrame(rows, columns=["side", "label", "value"])


class Controller:
    """Runs plans in one home folder, with defaults for every run it makes.

    ``home`` is the Choreograph home (plan store, runs, build cache); None means the one
    ``choreo`` uses (``$CHOREO_HOME``, else ``~/.choreograph``). ``defaults`` are
    :class:`RunArgs` every call starts from. The ``with`` block checks the home once, up
    front; leaving it removes nothing (the runs stay in the home for ``choreo results``).
    """

    def __init__(
        self,
        home: PathLike | None = None,
        *,
        on_progress: progress.ProgressSink = progress.discard,
        **defaults: Unpack[RunArgs],
    ) -> None:
        self._home = None if home is None else Path(home).expanduser().resolve()
        self._on_progress = on_progress
        self._defaults = defaults
        self._runs = 0
        self._series = 0

    @cached_property
    def settings(self) -> Settings:
        """The home's settings, loaded (and the home checked usable) on first use."""
        if self._home is None:
            return load_settings()
        # load_settings reads the home from the environment only; setting it for the call
        # keeps one definition of the layering (config.toml < CHOREO_* < flags).
        saved = os.environ.get("CHOREO_HOME")
        os.environ["CHOREO_HOME"] = str(self._home)
        try:
            return load_settings()
        finally:
            if saved is None:
                del os.environ["CHOREO_HOME"]
            else:
                os.environ["CHOREO_HOME"] = saved

    @property
    def home(self) -> Path:
        return self.settings.home

    def __enter__(self) -> Controller:
        _ = self.settings
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def statistics(self) -> dict[str, Any]:
        """What this controller has done, for debugging."""
        return {"home": str(self._home or ""), "runs": self._runs, "series": self._series}

    def run(
        self, plan: PathLike | None = None, case: str | None = None, **args: Unpack[RunArgs]
    ) -> Run:
        """Run one case of ``plan`` (a plan name or folder, or a composition file) and wait
        for its end; see :class:`RunArgs` for the rest."""
        return _blocking(lambda: self.arun(plan, case, **args))

    async def arun(
        self, plan: PathLike | None = None, case: str | None = None, **args: Unpack[RunArgs]
    ) -> Run:
        """:meth:`run`, for callers already inside an event loop."""
        merged: RunArgs = {**self._defaults, **args}
        spec = self._spec(plan, case, merged)
        result = await execute(spec, self.settings, self._options(merged), self._on_progress)
        self._runs += 1
        return Run._of(result, spec)

    def series(
        self,
        plan: PathLike | None = None,
        case: str | None = None,
        *,
        repeat: int = 1,
        until_stable: str | None = None,
        metric: str | None = None,
        rel_ci: float = 0.02,
        confidence: float = 0.95,
        max_runs: int = 100,
        min_runs: int = 3,
        **args: Unpack[RunArgs],
    ) -> Series:
        """Run the same spec ``repeat`` times, or until the mean of metric ``until_stable``
        across runs is known within ``rel_ci`` (relative half-width of the ``confidence``
        interval; at least ``min_runs``, at most ``max_runs`` runs). ``metric`` gives a
        ``repeat`` series its statistics. A failed run ends the series."""
        if until_stable and metric and until_stable != metric:
            raise InputError(f"until_stable={until_stable!r} and metric={metric!r} disagree")
        chosen = SeriesPlan(
            repeat=repeat,
            metric=until_stable or metric,
            until_stable=until_stable is not None,
            rel_ci=rel_ci,
            confidence=confidence,
            max_runs=max_runs,
            min_runs=min_runs,
        )
        return _blocking(lambda: self._aseries(plan, case, chosen, args))

    def benchmark(
        self,
        plan: PathLike | None = None,
        case: str | None = None,
        *,
        metric: str,
        repeat: int | None = None,
        rel_ci: float = 0.02,
        max_runs: int = 100,
        **args: Unpack[RunArgs],
    ) -> Series:
        """The mean of ``metric`` with its interval: ``repeat`` runs, or (without
        ``repeat``) as many as it takes to know it within ``rel_ci``."""
        if repeat is None:
            return self.series(
                plan, case, until_stable=metric, rel_ci=rel_ci, max_runs=max_runs, **args
            )
        return self.series(plan, case, repeat=repeat, metric=metric, **args)

    def calibrate(
        self,
        plan: PathLike,
        case: str | None = None,
        *,
        knob: str,
        target: float,
        tolerance: float | None = None,
        metric: str = "cpu_percent",
        group: str | None = None,
        low: float = 0.0,
        high: float | None = None,
        start: float | None = None,
        iterations: int = 12,
        **args: Unpack[RunArgs],
    ) -> Calibration:
        """Drive the test param ``knob`` (an int or float param of the case), one short
        run per iteration, until ``metric`` (``cpu_percent``, ``rss_bytes`` or any metric
        the plan records; of ``group`` or all) is within ``tolerance`` (default 1%) of
        ``target``. The knob stays within ``low``..``high`` (default 10x the start) and
        starts at ``start`` (default the case's value). A converged value is kept for
        ``params={knob: "@calibrated"}``; see :mod:`choreograph.calibrate`."""
        merged: RunArgs = {**self._defaults, **args}
        if "composition" in merged or knob in merged.get("params", {}):
            raise InputError(
                f"calibrate drives knob {knob!r} of one plan case: give a plan and case, "
                "without a composition or a params value for the knob (use start=…)"
            )
        spec = self._spec(plan, case, merged)
        declared = self._manifest(plan)[1].case(spec.case).params.get(knob)
        integer = knob_is_integer(knob, None if declared is None else declared.type)
        chosen = CalibrationPlan(
            knob=knob,
            target=target,
            tolerance=tolerance,
            metric=metric,
            group=group,
            low=low,
            high=high,
            start=start,
            iterations=iterations,
            integer=integer,
        )
        options = self._options(merged)

        async def calibration() -> Calibration:
            return await _calibrate(spec, self.settings, chosen, self._on_progress, options=options)

        state = _blocking(calibration)
        self._runs += len(state.iterations)
        return state

    def compare(
        self,
        a: Run | Series | PathLike,
        b: Run | Series | PathLike | None,
        metric: str,
        *,
        groups: tuple[str, str] | None = None,
        alpha: float = 0.05,
        confidence: float = 0.95,
    ) -> Comparison:
        """:func:`compare`, with run and series ids looked up in this home."""
        return compare(
            a, b, metric, groups=groups, alpha=alpha, confidence=confidence, home=self.home
        )

    async def _aseries(
        self, plan: PathLike | None, case: str | None, chosen: SeriesPlan, args: RunArgs
    ) -> Series:
        merged: RunArgs = {**self._defaults, **args}
        spec = self._spec(plan, case, merged)
        options = self._options(merged)
        state = await run_series(spec, self.settings, options, chosen, self._on_progress)
        self._series += 1
        self._runs += len(state.results)
        return Series._of(state, spec, self.settings.home)

    def _options(self, args: RunArgs) -> RunOptions:
        timeout = args.get("timeout")
        return RunOptions(
            timeout_s=self.settings.run_timeout_s if timeout is None else timeout,
            fail_fast=args.get("fail_fast", False),
            stop_grace_s=self.settings.stop_grace_s,
        )

    def _spec(self, plan: PathLike | None, case: str | None, args: RunArgs) -> RunSpec:
        """The one RunSpec asked for, its settings checked, its warnings issued."""
        composition = args.get("composition")
        if composition is None and plan is not None and _is_file(plan, ".toml"):
            plan, composition = None, plan
        if composition is None:
            if plan is None:
                raise InputError("run what? give a plan (name or folder) or a composition file")
            spec = self._single(plan, case, args)
        else:
            if plan is not None or case is not None or "instances" in args:
                raise InputError(
                    f"a composition ({composition}) names its plan, case and instance counts; "
                    "give either a composition or a plan and case"
                )
            spec = self._composed(Path(composition), args)
        spec = mocks.with_modes(spec, args.get("service_modes", {}))
        spec = check_config_keys(spec)
        for warning in spec.warnings:
            warnings.warn(warning, UserWarning, stacklevel=2)
        return spec

    def _manifest(self, plan: PathLike) -> tuple[Path, Manifest]:
        from choreograph.plan import load_manifest

        plan_dir = workspace.find_plan(os.fspath(plan), self.settings.plans_dir)
        return plan_dir, load_manifest(plan_dir / workspace.MANIFEST)

    def _single(self, plan: PathLike, case: str | None, args: RunArgs) -> RunSpec:
        from choreograph.plan import resolve_single

        plan_dir, manifest = self._manifest(plan)
        if case is None:
            names = [tc.name for tc in manifest.testcases]
            if len(names) != 1:
                raise InputError(f"plan {manifest.name} has cases {', '.join(names)}: name one")
            case = names[0]
        return resolve_single(
            manifest,
            plan_dir,
            case=case,
            instances=args.get("instances"),
            test_params=self._params(args, manifest.name, case),
            builder=args.get("builder"),
            runner=args.get("runner"),
            manifest_file=str(plan_dir / workspace.MANIFEST),
        )

    def _composed(self, file: Path, args: RunArgs) -> RunSpec:
        from choreograph.plan import load_composition, load_manifest, resolve_composition

        composition = load_composition(file)
        plan_dir = workspace.composition_plan(composition, self.settings.plans_dir)
        manifest = load_manifest(plan_dir / workspace.MANIFEST)
        specs = resolve_composition(
            composition,
            manifest,
            plan_dir,
            test_params=self._params(args, manifest.name, composition.global_.case),
            builder=args.get("builder"),
            runner=args.get("runner"),
        )
        wanted = args.get("composition_run")
        found = [s for s in specs if wanted is None or s.composition_run == wanted]
        if len(found) != 1:
            ids = ", ".join(s.composition_run for s in specs)
            asked = f"no [[runs]] {wanted!r}" if wanted else "several [[runs]]"
            raise InputError(f"{file} has {asked}; its runs: {ids} (choose: composition_run=…)")
        return found[0]

    def _params(self, args: RunArgs, plan: str, case: str) -> dict[str, str]:
        strings = _param_strings(args.get("params", {}))
        return substitute_calibrated(strings, self.settings.home, plan, case)


def _is_file(ref: PathLike, suffix: str) -> bool:
    path = Path(ref).expanduser()
    return path.suffix == suffix and path.is_file()


def _param_strings(params: Mapping[str, object]) -> dict[str, str]:
    """Test params as ``--tp`` spells them, so they are checked against the manifest the
    same way: bools as ``true``/``false``, tables and arrays as JSON."""
    out = {}
    for key, value in params.items():
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, dict | list | tuple):
            out[key] = json.dumps(value, separators=(",", ":"))
        elif isinstance(value, float) and not math.isfinite(value):
            raise InputError(f"test param {key}: {value} is not a number a plan can read")
        else:
            out[key] = str(value)
    return out


def _blocking(start: Callable[[], Awaitable[_T]]) -> _T:
    """Run the coroutine ``start`` makes to its end; refuse inside a running loop, where
    ``asyncio.run`` cannot work and the async face (``arun``) is the answer."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise InputError(
            "a blocking choreograph.api call was made inside a running event loop; "
            "await the async face there (arun)"
        )

    async def main() -> _T:
        return await start()

    return asyncio.run(main())


def run(
    plan: PathLike | None = None,
    case: str | None = None,
    *,
    home: PathLike | None = None,
    **args: Unpack[RunArgs],
) -> Run:
    """Run one case of a plan (name or folder) or a composition file, and wait for it.

    >>> result = run("examples/sync", "barrier", instances=3, params={"rounds": 2})
    >>> result.success, result.groups["single"].ok        # doctest: +SKIP
    (True, 3)
    """
    return Controller(home).run(plan, case, **args)


async def arun(
    plan: PathLike | None = None,
    case: str | None = None,
    *,
    home: PathLike | None = None,
    **args: Unpack[RunArgs],
) -> Run:
    """:func:`run` for callers already in an event loop."""
    return await Controller(home).arun(plan, case, **args)


def series(
    plan: PathLike | None = None,
    case: str | None = None,
    *,
    home: PathLike | None = None,
    repeat: int = 1,
    until_stable: str | None = None,
    metric: str | None = None,
    rel_ci: float = 0.02,
    **args: Unpack[RunArgs],
) -> Series:
    """Repeated runs of one spec (see :meth:`Controller.series`).

    >>> s = series("examples/metrics", "noisy", until_stable="value", rel_ci=0.05)
    >>> s.status, s.mean, s.interval.half_width            # doctest: +SKIP
    """
    return Controller(home).series(
        plan, case, repeat=repeat, until_stable=until_stable, metric=metric, rel_ci=rel_ci, **args
    )


def calibrate(
    plan: PathLike,
    case: str | None = None,
    *,
    knob: str,
    target: float,
    home: PathLike | None = None,
    tolerance: float | None = None,
    metric: str = "cpu_percent",
    iterations: int = 12,
    **args: Unpack[RunArgs],
) -> Calibration:
    """Find the value of ``knob`` that puts ``metric`` on ``target`` (see
    :meth:`Controller.calibrate`, which takes the controller's limits too).

    >>> c = calibrate("plans/load", "steady", knob="sleep_ms", target=50)  # doctest: +SKIP
    >>> c.converged, c.text, [i.measured for i in c.iterations]            # doctest: +SKIP
    """
    return Controller(home).calibrate(
        plan,
        case,
        knob=knob,
        target=target,
        tolerance=tolerance,
        metric=metric,
        iterations=iterations,
        **args,
    )


def compare(
    a: Run | Series | PathLike,
    b: Run | Series | PathLike | None,
    metric: str,
    *,
    groups: tuple[str, str] | None = None,
    alpha: float = 0.05,
    confidence: float = 0.95,
    home: PathLike | None = None,
) -> Comparison:
    """Is B different from A on ``metric``? Two runs (every sample), two series (their
    per-run means), or, with ``b=None`` and ``groups=(G1, G2)``, two groups of run A.
    ``a`` and ``b`` are results, folders, or ids looked up in ``home``.

    >>> c = compare(run_a, run_b, "latency_ms")              # doctest: +SKIP
    >>> c.significant, f"{c.relative:+.1%}", c.verdict        # doctest: +SKIP
    """
    where = Path(home) if home is not None else _home_of(a, b)
    sides = _comparison.sides(
        where, _ident(a), None if b is None else _ident(b), metric, list(groups or []) or None
    )
    return Comparison(**vars(sides), result=_comparison.run(sides, alpha, confidence))


def _ident(ref: Run | Series | PathLike) -> str:
    return str(ref.folder) if isinstance(ref, Run | Series) else os.fspath(ref)


def _home_of(*refs: Run | Series | PathLike | None) -> Path:
    """The home a result lives in (``<home>/runs/<id>``, ``<home>/series/<id>``), else
    the default home, where plain ids are looked up."""
    for ref in refs:
        if isinstance(ref, Run | Series):
            return ref.folder.parent.parent
    return load_settings().home
