"""A series: the same run spec run again and again (``--repeat N``, ``--until-stable M``).

After each run the metric's per-run mean (over every sample of every instance) joins the
series; the mean across runs gets a Student-t confidence interval. ``--until-stable``
stops once that interval's half-width is within ``rel_ci`` of |mean| (and at least
``min_runs`` runs were made), or at ``max_runs``. The per-run means are the unit of
replication: samples within one run share its conditions (machine load, caches, build),
so only the spread between runs says how much one more run can move the answer.

A series has its own id and folder, ``<home>/series/<id>/series.json``, rewritten after
every run: the runs made, each one's mean, the interval, the normality check (Shapiro-Wilk
of the per-run means) and why the series stopped. A failed run stops the series: its
numbers would describe a broken system.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from choreograph import progress
from choreograph.config import Settings
from choreograph.engine import RunOptions, RunResult, StopRequest, execute
from choreograph.errors import InputError
from choreograph.plan.spec import RunSpec
from choreograph.results import stats
from choreograph.results.layout import SERIES_JSON, new_series_id, write_json
from choreograph.results.metrics import metric_samples


@dataclass(frozen=True)
class SeriesPlan:
    repeat: int = 1
    """Runs to make when not ``until_stable``."""
    metric: str | None = None
    until_stable: bool = False
    rel_ci: float = 0.02
    confidence: float = 0.95
    max_runs: int = 100
    min_runs: int = 3

    def check(self) -> None:
        problems = []
        if self.until_stable and not self.metric:
            problems.append("--until-stable needs a metric name")
        if self.repeat < 1 or self.max_runs < 1 or self.min_runs < 1:
            problems.append("--repeat, --max-runs and --min-runs must be ≥ 1")
        if not 0 < self.confidence < 1:
            problems.append(f"--confidence must be between 0 and 1, found {self.confidence}")
        if self.rel_ci <= 0:
            problems.append(f"--rel-ci must be > 0, found {self.rel_ci}")
        if problems:
            raise InputError("; ".join(problems))


@dataclass
class SeriesState:
    series_id: str
    plan: SeriesPlan
    results: list[RunResult] = field(default_factory=list)
    means: list[float | None] = field(default_factory=list)
    interval: stats.Interval | None = None
    normality: stats.Normality | None = None
    stop_reason: str = ""
    status: str = "running"

    @property
    def valid_means(self) -> list[float]:
        return [m for m in self.means if m is not None]

    @property
    def success(self) -> bool:
        return all(r.success for r in self.results) and self.status != "interrupted"


class SeriesControl:
    """Stops the run in progress and the series (Ctrl-C, SIGTERM)."""

    def __init__(self) -> None:
        self.current = StopRequest()
        self.reason = ""

    def interrupt(self, reason: str) -> None:
        self.reason = self.reason or reason
        self.current.request(reason)


async def run_series(
    spec: RunSpec,
    settings: Settings,
    options: RunOptions,
    plan: SeriesPlan,
    sink: progress.ProgressSink = progress.discard,
    control: SeriesControl | None = None,
    after_run: Callable[[SeriesState], None] = lambda state: None,
) -> SeriesState:
    plan.check()
    control = control or SeriesControl()
    state = SeriesState(new_series_id(), plan)
    folder = settings.home / "series" / state.series_id
    started = datetime.now(UTC)
    limit = plan.max_runs if plan.until_stable else plan.repeat
    groups = [g.id for g in spec.groups]
    while len(state.results) < limit:
        control.current = StopRequest()
        result = await execute(spec, settings, replace(options, run_id=""), sink, control.current)
        state.results.append(result)
        values = metric_samples(result.run_dir, groups, plan.metric) if plan.metric else []
        state.means.append(math.fsum(values) / len(values) if values else None)
        _update(state)
        if control.reason:
            state.status, state.stop_reason = "interrupted", control.reason
        elif not result.success:
            state.status, state.stop_reason = "failed", f"run {result.run_id} failed"
        elif plan.metric and state.means[-1] is None:
            state.status = "failed"
            state.stop_reason = f"run {result.run_id} recorded no metric {plan.metric!r}"
        elif plan.until_stable and _stable(state):
            state.status = "stable"
            state.stop_reason = (
                f"half-width within {plan.rel_ci:.2%} of the mean after {len(state.results)} runs"
            )
        if state.status == "running" and len(state.results) == limit:
            state.status = "max-runs" if plan.until_stable else "done"
            state.stop_reason = (
                f"reached --max-runs {limit} before the interval was within {plan.rel_ci:.2%}"
                if plan.until_stable
                else f"made the {limit} runs asked for"
            )
        write_json(folder / SERIES_JSON, _record(state, spec, started))
        after_run(state)
        if state.status != "running":
            break
    return state


def _update(state: SeriesState) -> None:
    means = state.valid_means
    if means:
        state.interval = stats.mean_ci(means, state.plan.confidence)
        state.normality = stats.normality(means)


def _stable(state: SeriesState) -> bool:
    interval = state.interval
    enough = len(state.valid_means) >= max(2, state.plan.min_runs)
    return enough and interval is not None and interval.within(state.plan.rel_ci)


def _record(state: SeriesState, spec: RunSpec, started: datetime) -> dict[str, Any]:
    plan, interval, normal = state.plan, state.interval, state.normality
    return {
        "series_id": state.series_id,
        "status": state.status,
        "stop_reason": state.stop_reason,
        "started": started.isoformat(),
        "updated": datetime.now(UTC).isoformat(),
        "plan": asdict(plan),
        "metric": plan.metric,
        "runs": [
            {"run_id": r.run_id, "success": r.success, "seconds": round(r.seconds, 3), "mean": m}
            for r, m in zip(state.results, state.means, strict=True)
        ],
        "interval": None
        if interval is None
        else {
            "mean": interval.mean,
            "low": _finite(interval.low),
            "high": _finite(interval.high),
            "half_width": _finite(interval.half_width),
            "relative_half_width": _finite(interval.relative_half_width),
            "n": interval.n,
            "sd": _finite(interval.sd),
            "confidence": interval.confidence,
        },
        "normality": None
        if normal is None
        else {
            "test": normal.test,
            "statistic": normal.statistic,
            "p": normal.p,
            "normal": normal.normal,
            "n": normal.n,
        },
        "spec": spec.to_json(),
    }


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
