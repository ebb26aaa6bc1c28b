"""The API's result types: a run, a series, a comparison, and loading past ones by id.

A :class:`Run` or :class:`Series` is what running returns, and equally what
:func:`load_run` / :func:`load_series` make of one already in a home folder (``choreo runs
list`` shows the ids): the outcome comes from ``run.json`` (or ``series.json``), the tables
from the run folder on first use, exactly as ``choreo results`` reads them. A harness can
therefore run today and analyse tomorrow, or analyse runs the CLI or the daemon made.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from choreograph.errors import InputError, RunNotFoundError
from choreograph.results import comparison as _comparison
from choreograph.results import stats
from choreograph.results.layout import RUN_JSON, SERIES_JSON
from choreograph.results.liveness import LIVE_STATUSES, effective_status
from choreograph.results.locate import locate
from choreograph.results.outcomes import GroupOutcome, InstanceOutcome

if TYPE_CHECKING:
    import pandas as pd

    from choreograph.engine import RunResult
    from choreograph.plan.spec import RunSpec
    from choreograph.results.tables import RunData
    from choreograph.series import SeriesState

PathLike = str | os.PathLike[str]


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
    status: str = ""
    """``success`` or ``failure``; a loaded run may also be ``aborted`` (its owner died, or
    it ended before its instances started: ``stop_reason`` says why)."""

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
            status="success" if result.success else "failure",
        )

    @classmethod
    def load(cls, ident: PathLike, home: PathLike | None = None) -> Run:
        """A past run by id (or unique prefix, or ``latest``) in ``home`` (default: the
        home ``choreo`` uses), or by its folder. A run still in progress is refused: its
        outcome is not known yet."""
        where = _home(home)
        found = locate(os.fspath(ident), where)
        if found.kind != "run":
            raise InputError(f"{ident} is a series, not a run (use load_series)")
        return cls._from_folder(found.path)

    @classmethod
    def _from_folder(cls, folder: Path) -> Run:
        record = _read(folder / RUN_JSON)
        status = effective_status(record)
        run_id = str(record.get("run_id", folder.name))
        if status in LIVE_STATUSES:
            raise InputError(f"run {run_id} is still {status}: load it once it has ended")
        spec = record.get("spec") or {}
        outcome = record.get("outcome") or {}
        reason = str(record.get("stop_reason") or "")
        if status == "aborted":
            reason = str(record.get("error") or reason or "its owner process ended mid-run")
        groups = {
            str(g["group"]): GroupOutcome(**{k: g[k] for k in _GROUP_FIELDS})
            for g in outcome.get("groups", [])
        }
        return cls(
            run_id=run_id,
            folder=folder,
            success=bool(outcome.get("success", False)) and status == "success",
            plan=str(spec.get("plan", "")),
            case=str(spec.get("case", "")),
            groups=groups,
            instances={
                key: _instance(key, data) for key, data in (outcome.get("instances") or {}).items()
            },
            stop_reason=reason,
            seconds=float(record.get("seconds") or 0.0),
            status=status,
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

    @classmethod
    def load(cls, ident: PathLike, home: PathLike | None = None) -> Series:
        """A past series by id (``s-…``, or a unique prefix) in ``home`` (default: the home
        ``choreo`` uses), or by its folder; its runs are loaded as :class:`Run`. The
        interval and normality check are computed again from the recorded per-run means,
        at the confidence the series used; a series still running shows the runs so far
        (``status`` ``running``)."""
        where = _home(home)
        found = locate(os.fspath(ident), where)
        if found.kind != "series":
            raise InputError(f"{ident} is a run, not a series (use load_run)")
        record = _read(found.path / SERIES_JSON)
        entries = record.get("runs") or []
        runs_dir = found.path.parent.parent / "runs"
        runs = []
        for entry in entries:
            folder = runs_dir / str(entry["run_id"])
            if not (folder / RUN_JSON).is_file():
                raise RunNotFoundError(
                    f"series {found.name} lists run {entry['run_id']}, which is not in "
                    f"{runs_dir} (removed by `choreo runs rm`?)"
                )
            runs.append(Run._from_folder(folder))
        means = [None if e.get("mean") is None else float(e["mean"]) for e in entries]
        valid = [m for m in means if m is not None]
        confidence = float((record.get("plan") or {}).get("confidence", 0.95))
        status = str(record.get("status", "?"))
        return cls(
            series_id=str(record.get("series_id", found.name)),
            folder=found.path,
            metric=record.get("metric"),
            runs=runs,
            means=means,
            interval=stats.mean_ci(valid, confidence) if valid else None,
            normality=stats.normality(valid) if valid else None,
            status=status,
            stop_reason=str(record.get("stop_reason", "")),
            success=all(r.success for r in runs) and status not in ("interrupted", "failed"),
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
    return _home(None)


_GROUP_FIELDS = ("group", "total", "ok", "failed", "crashed", "stopped")


def load(ident: PathLike, home: PathLike | None = None) -> Run | Series:
    """A past run or series, whichever ``ident`` names (an id, a unique prefix, ``latest``,
    or a folder), as :func:`load_run` or :func:`load_series` would load it."""
    found = locate(os.fspath(ident), _home(home))
    if found.kind == "series":
        return Series.load(found.path, found.home)
    return Run._from_folder(found.path)


def load_run(ident: PathLike, home: PathLike | None = None) -> Run:
    """:meth:`Run.load`: a past run by id, prefix, ``latest`` or folder."""
    return Run.load(ident, home)


def load_series(ident: PathLike, home: PathLike | None = None) -> Series:
    """:meth:`Series.load`: a past series by id, prefix or folder."""
    return Series.load(ident, home)


def _home(home: PathLike | None) -> Path:
    if home is not None:
        return Path(home).expanduser().resolve()
    from choreograph.config import load_settings

    return load_settings().home


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunNotFoundError(f"{path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not readable as a record ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def _instance(key: str, data: dict[str, Any]) -> InstanceOutcome:
    """One instance's outcome as ``run.json`` keeps it (``decided_by`` is the channel)."""
    returncode = data.get("returncode")
    return InstanceOutcome(
        key=key,
        group=key.rpartition("/")[0],
        status=data.get("status", "pending"),
        error=str(data.get("error") or ""),
        returncode=returncode if isinstance(returncode, int) else None,
        channel=str(data.get("decided_by") or ""),
        stderr_tail=str(data.get("stderr_tail") or ""),
    )
