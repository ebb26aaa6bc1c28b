"""Load calibration: drive one test param (the knob) until a measured metric reaches a target.

Each iteration is one ordinary run of the spec with the knob as a test param (``--tp
knob=value``), measured once it has ended; the :class:`Controller` turns that measurement
into the next knob value. Repeated short runs rather than a knob published live on a sync
topic: the plan needs no change (it reads a param, as it already does), any SDK in any
language works, and each point is measured cleanly from a run of its own, with no
transient left over from the previous value.

The measurement is ``cpu_percent`` or ``rss_bytes`` (the runner's resource samples,
:mod:`choreograph.runners.resources`: the mean over the instances of one group, or all,
leaving out each instance's first sample, which covers the interpreter's start-up), or
the mean of any metric the plan records (:func:`choreograph.results.metrics.metric_samples`).

A calibration has its own id and record, ``<home>/calibrations/<id>.json`` (the plan,
every iteration's knob, measurement, error and run id, the outcome and why), rewritten
after every run. A converged one is also the *latest* for its plan, case and knob,
``<home>/calibrations/<plan>/<case>/<knob>.json``, which ``--tp knob=@calibrated`` reads
(:func:`substitute_calibrated`). Its controller is pure and lives in the same module
because it has no other user; the module is over the usual size for that reason.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from choreograph import progress
from choreograph.config import Settings
from choreograph.engine import RunOptions, StopRequest, execute
from choreograph.errors import InputError
from choreograph.plan.spec import RunSpec
from choreograph.results.layout import new_run_id, write_json
from choreograph.results.metrics import metric_samples, read_run

CALIBRATED = "@calibrated"
RESOURCE_METRICS = ("cpu_percent", "rss_bytes")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def _sign(value: float) -> float:
    return math.copysign(1.0, value)


class Controller:
    """Which knob value to try next, given the last one and what it measured.

    The step is ``kp·e + ki·Σe`` (``e`` = target - measured), in incremental form: each
    run is a fresh evaluation of a plant with no dynamics of its own, so proportional
    action on the *step* already drives the error to zero; the integral term adds push
    where a fixed gain is too small (a plant that flattens). The sign of the gain (does
    the metric rise or fall with the knob? more sleep, less CPU) is learned from the data:
    ``kp``'s own sign only steers the first step, its magnitude is used after that.

    Without ``kp`` the gain is estimated (secant method): the first step is a probe of
    ``probe`` toward the error; after that ``kp = 1/|slope|`` from the last two points,
    each new slope kept within a factor 4 of the previous estimate and ignored when its sign
    disagrees once (noise), so one noisy pair cannot throw the knob across the range. Once
    points on both sides of the target are known, a step that would leave that bracket
    bisects it instead: on a monotone plant this converges whatever the curvature.

    Every step is limited to ``max_step`` and the knob kept within ``[low, high]``. Two
    measurements in a row at a bound that still ask to go beyond it make :attr:`stuck`
    say so: the target is out of reach there, or the metric does not follow the knob.
    """

    def __init__(
        self,
        target: float,
        tolerance: float,
        low: float,
        high: float,
        *,
        kp: float | None = None,
        ki: float = 0.0,
        max_step: float | None = None,
        probe: float | None = None,
    ) -> None:
        problems = []
        if not all(math.isfinite(v) for v in (target, tolerance, low, high, ki)):
            problems.append("target, tolerance, bounds and ki must be finite numbers")
        if not tolerance > 0:
            problems.append(f"--tolerance must be > 0, found {tolerance:g}")
        if not low < high:
            problems.append(f"--min must be below --max, found {low:g} and {high:g}")
        if kp is not None and not (math.isfinite(kp) and kp != 0):
            problems.append(f"--kp must be a non-zero number, found {kp:g}")
        if max_step is not None and not max_step > 0:
            problems.append(f"--max-step must be > 0, found {max_step:g}")
        if problems:
            raise InputError("; ".join(problems))
        self.target, self.tolerance, self.low, self.high = target, tolerance, low, high
        self.kp, self.ki = kp, ki
        self.max_step = max_step if max_step is not None else (high - low) / 4
        self._probe = min(probe if probe and probe > 0 else (high - low) / 20, self.max_step)
        self._guess = _sign(kp or 1.0)
        """The direction assumed until the data shows one: kp's sign, else rising."""
        self._ends: set[str] = set()
        self.points: list[tuple[float, float]] = []
        self.gain: float | None = None
        """Estimated d(metric)/d(knob); None until two points differ."""
        self.integral = 0.0
        self.stuck = ""
        """Why further steps are pointless ("" while they are not)."""
        self._contrary = 0
        self._pushed = 0
        self._below: float | None = None
        self._above: float | None = None

    def error(self, measured: float) -> float:
        return self.target - measured

    def within(self, measured: float) -> bool:
        return abs(self.error(measured)) <= self.tolerance

    def next(self, knob: float, measured: float) -> float:
        """Record ``knob → measured`` and return the knob value to measure next."""
        e = self.error(measured)
        self._learn(knob, measured)
        self.points.append((knob, measured))
        if e > 0:
            self._below = knob
        elif e < 0:
            self._above = knob
        if knob <= self.low or knob >= self.high:
            self._ends.add("low" if knob <= self.low else "high")
        integral = self.integral + e
        proposed = knob + self._step(e, integral)
        if self.gain is None and self._beyond(knob, proposed):
            self._guess = -self._guess  # a guessed direction that leaves the range: the other
            proposed = knob + self._step(e, integral)
        if self.gain is None and self.kp is None:
            self._probe *= 2  # no response yet: look further
        if self.kp is None and self._below is not None and self._above is not None:
            lo, hi = sorted((self._below, self._above))
            if lo < hi and not lo < proposed < hi:
                proposed = (lo + hi) / 2
        proposed = knob + max(-self.max_step, min(self.max_step, proposed - knob))
        if self._beyond(knob, proposed):
            self._pushed += 1  # and no integral wind-up against the bound
            if self._pushed >= 2:
                side = "below" if e > 0 else "above"
                self.stuck = (
                    f"the knob is at its bound {knob:g} and the metric ({measured:.4g}) is "
                    f"still {side} the target {self.target:g}: the target is out of reach "
                    f"within [{self.low:g}, {self.high:g}], or the metric does not follow "
                    "the knob"
                )
        else:
            self._pushed = 0
            self.integral = integral
        if self.gain is None and len(self._ends) == 2:
            self.stuck = (
                f"the metric stayed at {measured:.4g} while the knob went from its bound "
                f"{self.low:g} to {self.high:g}: the metric does not follow the knob"
            )
        return max(self.low, min(self.high, proposed))

    def _step(self, e: float, integral: float) -> float:
        direction = _sign(self.gain) if self.gain else self._guess
        if self.kp is None and not self.gain:
            return direction * _sign(e) * self._probe
        gain = abs(self.kp) if self.kp is not None else 1 / abs(self.gain or 1.0)
        return direction * (gain * e + abs(self.ki) * integral)

    def _beyond(self, knob: float, proposed: float) -> bool:
        """Would ``proposed`` take a knob already at a bound past it?"""
        return (knob <= self.low and proposed < self.low) or (
            knob >= self.high and proposed > self.high
        )

    def _learn(self, knob: float, measured: float) -> None:
        if not self.points:
            return
        last_knob, last_measured = self.points[-1]
        dk, dm = knob - last_knob, measured - last_measured
        if abs(dk) <= 1e-12 * max(1.0, abs(knob)) or dm == 0:
            return
        slope = dm / dk
        if self.gain is None or _sign(slope) == _sign(self.gain):
            size = abs(slope)
            if self.gain is not None:
                size = min(max(size, abs(self.gain) / 4), abs(self.gain) * 4)
            self.gain = math.copysign(size, slope)
            self._contrary = 0
        else:
            self._contrary += 1
            if self._contrary >= 2:  # twice the other way: the first sign was the noise
                self.gain, self._contrary = slope, 0

    def statistics(self) -> dict[str, Any]:
        return {
            "points": len(self.points),
            "gain": self.gain,
            "integral": self.integral,
            "bracket": [self._below, self._above],
            "stuck": self.stuck,
        }


@dataclass(frozen=True)
class CalibrationPlan:
    """What to calibrate: the knob, the metric and its target, the controller's limits."""

    knob: str
    target: float
    tolerance: float | None = None
    """None: 1% of the target (1 when the target is 0)."""
    metric: str = "cpu_percent"
    group: str | None = None
    """Measure this group only; None: every group."""
    knob_groups: tuple[str, ...] = ()
    """The groups whose knob param is driven; empty: every group (a composition's
    controller group can keep its own value while its clients are calibrated)."""
    low: float = 0.0
    high: float | None = None
    """None: ten times the start value (100 when it is 0)."""
    start: float | None = None
    """None: the knob's value in the spec (its default, or a ``--tp``)."""
    max_step: float | None = None
    """None: a quarter of the range."""
    kp: float | None = None
    ki: float = 0.0
    iterations: int = 12
    integer: bool = False
    """The knob is an int param: values are rounded before a run."""

    def check(self, spec: RunSpec) -> None:
        problems = []
        if not _NAME.fullmatch(self.knob):
            problems.append(f"--knob {self.knob!r}: expected a test param name")
        if not self.metric:
            problems.append("--metric must name a metric, e.g. cpu_percent")
        if self.iterations < 1:
            problems.append(f"--iterations must be ≥ 1, found {self.iterations}")
        groups = [g.id for g in spec.groups]
        if self.group is not None and self.group not in groups:
            problems.append(f"--group {self.group!r}: the run has groups {', '.join(groups)}")
        for wanted in self.knob_groups:
            if wanted not in groups:
                problems.append(f"--knob-group {wanted!r}: the run has groups {', '.join(groups)}")
        if problems:
            raise InputError("; ".join(problems))

    def start_value(self, spec: RunSpec) -> float:
        if self.start is not None:
            return self.start
        for group in spec.groups:
            if self.knob_groups and group.id not in self.knob_groups:
                continue
            if (value := _number(group.params.get(self.knob))) is not None:
                return value
        raise InputError(
            f"--knob {self.knob}: the case gives it no numeric value to start from; "
            "give --start VALUE"
        )

    def controller(self, start: float) -> Controller:
        high = self.high if self.high is not None else (10 * start if start > 0 else 100.0)
        return Controller(
            self.target,
            self.tolerance_value,
            self.low,
            high,
            kp=self.kp,
            ki=self.ki,
            max_step=self.max_step,
            probe=abs(start) / 5 if start else None,
        )

    @property
    def tolerance_value(self) -> float:
        return self.tolerance if self.tolerance is not None else abs(self.target) / 100 or 1.0

    def text(self, value: float) -> str:
        """The knob value as the run gets it."""
        return str(round(value)) if self.integer else f"{value:.6g}"


def knob_is_integer(knob: str, declared_type: str | None) -> bool:
    """Whether the knob is an int param (else a float, or undeclared); an InputError when
    the case declares it anything else: the controller moves it by fractions."""
    if declared_type is not None and declared_type not in ("int", "float"):
        raise InputError(
            f"--knob {knob}: the case declares it {declared_type}; the knob must be an int "
            "or float param"
        )
    return declared_type == "int"


def _number(text: str | None) -> float | None:
    try:
        value = float(text) if text is not None else math.nan
    except ValueError:
        return None
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class Iteration:
    knob: float
    text: str
    """The value the run got (``--tp knob=text``)."""
    run_id: str
    seconds: float
    measured: float | None
    error: float | None
    samples: int


@dataclass
class Calibration:
    calibration_id: str
    plan: CalibrationPlan
    spec: RunSpec
    low: float
    high: float
    iterations: list[Iteration] = field(default_factory=list)
    status: str = "running"
    """``running``, then ``converged``, ``max-iterations``, ``out-of-range``, ``failed`` or
    ``interrupted``."""
    reason: str = ""
    value: float | None = None
    """The converged knob value."""
    text: str | None = None
    record: Path | None = None

    @property
    def converged(self) -> bool:
        return self.status == "converged"


async def calibrate(
    spec: RunSpec,
    settings: Settings,
    plan: CalibrationPlan,
    sink: progress.ProgressSink = progress.discard,
    *,
    options: RunOptions | None = None,
    stop: StopRequest | None = None,
    after: Callable[[Calibration], None] = lambda calibration: None,
) -> Calibration:
    """Run ``spec`` with the knob set by the controller until the metric is within the
    tolerance of the target, the controller is stuck, or ``plan.iterations`` runs were
    made. A run that fails, or records no sample of the metric, ends the calibration: its
    number would describe a broken system. ``stop`` stops the run in progress and the
    calibration (Ctrl-C); ``after`` is called after every run."""
    plan.check(spec)
    options, stop = options or RunOptions(), stop or StopRequest()
    start = plan.start_value(spec)
    controller = plan.controller(start)
    state = Calibration("c-" + new_run_id(), plan, spec, controller.low, controller.high)
    state.record = settings.home / "calibrations" / f"{state.calibration_id}.json"
    started = datetime.now(UTC)
    knob = max(controller.low, min(controller.high, start))
    groups = [g.id for g in spec.groups]
    while state.status == "running":
        text = plan.text(knob)
        knob = float(text)  # what the run got is what the measurement belongs to
        run_spec = _with_knob(spec, plan.knob, text, plan.knob_groups)
        result = await execute(run_spec, settings, replace(options, run_id=""), sink, stop)
        measured, samples = measure(result.run_dir, groups, plan.metric, plan.group)
        error = None if measured is None else controller.error(measured)
        state.iterations.append(
            Iteration(knob, text, result.run_id, result.seconds, measured, error, samples)
        )
        if stop.reason:
            state.status, state.reason = "interrupted", stop.reason
        elif not result.success:
            state.status, state.reason = "failed", f"run {result.run_id} failed"
        elif measured is None:
            state.status, state.reason = "failed", _no_samples(plan, result.run_id)
        elif controller.within(measured):
            state.status, state.value, state.text = "converged", knob, text
            within = f"within {plan.tolerance_value:g} of {plan.target:g}"
            state.reason = f"{plan.metric} {measured:.4g} is {within}"
        else:
            knob = controller.next(knob, measured)
            if controller.stuck:
                state.status, state.reason = "out-of-range", _advice(state, controller.stuck)
            elif len(state.iterations) >= plan.iterations:
                state.status = "max-iterations"
                state.reason = _advice(state, f"{plan.iterations} iterations without converging")
        write_json(state.record, _record(state, controller, started))
        if state.converged:
            write_json(latest_path(settings.home, spec.plan, spec.case, plan.knob), _latest(state))
        after(state)
    return state


def _with_knob(spec: RunSpec, knob: str, text: str, only: tuple[str, ...] = ()) -> RunSpec:
    """``spec`` with the knob set in every group, or in the groups ``only`` names."""
    groups = tuple(
        replace(g, params={**g.params, knob: text}) if not only or g.id in only else g
        for g in spec.groups
    )
    return replace(spec, groups=groups)


def measure(
    run_dir: Path, groups: list[str], metric: str, group: str | None = None
) -> tuple[float | None, int]:
    """``(mean, samples)`` of ``metric`` in one run; ``(None, 0)`` without samples."""
    if metric in RESOURCE_METRICS:
        by_instance: dict[str, list[tuple[int, float]]] = {}
        for row in read_run(run_dir, groups, kinds=("resources",)):
            if row.name == metric and (group is None or row.group == group):
                by_instance.setdefault(row.instance, []).append((row.ts, row.value))
        values = [v for rows in by_instance.values() for _, v in sorted(rows)[1:]]
    else:
        values = metric_samples(run_dir, groups, metric, group)
    return (math.fsum(values) / len(values), len(values)) if values else (None, 0)


def _no_samples(plan: CalibrationPlan, run_id: str) -> str:
    where = f" of group {plan.group}" if plan.group else ""
    if plan.metric in RESOURCE_METRICS:
        return (
            f"run {run_id} has no {plan.metric} sample{where} after each instance's first: "
            "make the run last at least two sample intervals (run config sample_interval, "
            "default 1 s)"
        )
    return f"run {run_id} recorded no metric {plan.metric!r}{where}"


def _advice(state: Calibration, why: str) -> str:
    """Why it did not converge, the last values, and what to change."""
    plan, points = state.plan, [i for i in state.iterations if i.measured is not None]
    last = points[-1]
    measured = [i.measured for i in points if i.measured is not None]
    knobs = [i.knob for i in points]
    text = (
        f"{why}; last: {plan.knob}={last.text} → {plan.metric} {last.measured:.4g} "
        f"(target {plan.target:g} ± {plan.tolerance_value:g})"
    )
    flat = max(plan.tolerance_value, 0.05 * abs(plan.target))
    if len(points) > 1 and max(measured) - min(measured) < flat:
        return text + (
            f"; {plan.metric} barely moved ({min(measured):.4g}..{max(measured):.4g}) while "
            f"{plan.knob} went {min(knobs):g}..{max(knobs):g}: check that the plan uses "
            f"{plan.knob}, or measure another --metric/--group"
        )
    if state.status == "out-of-range":
        return text + "; widen --min/--max"
    return text + (
        "; raise --iterations, widen --tolerance, or lengthen each run so the measurement "
        "averages more samples"
    )


def _record(state: Calibration, controller: Controller, started: datetime) -> dict[str, Any]:
    return {
        "calibration_id": state.calibration_id,
        "status": state.status,
        "reason": state.reason,
        "plan": state.spec.plan,
        "case": state.spec.case,
        "knob": state.plan.knob,
        "metric": state.plan.metric,
        "group": state.plan.group,
        "target": state.plan.target,
        "tolerance": state.plan.tolerance_value,
        "value": state.value,
        "text": state.text,
        "bounds": [state.low, state.high],
        "settings": asdict(state.plan),
        "controller": controller.statistics(),
        "iterations": [asdict(i) for i in state.iterations],
        "started": started.isoformat(),
        "updated": datetime.now(UTC).isoformat(),
        "spec": state.spec.to_json(),
    }


def _latest(state: Calibration) -> dict[str, Any]:
    last = state.iterations[-1]
    return {
        "plan": state.spec.plan,
        "case": state.spec.case,
        "knob": state.plan.knob,
        "value": state.value,
        "text": state.text,
        "metric": state.plan.metric,
        "group": state.plan.group,
        "measured": last.measured,
        "target": state.plan.target,
        "tolerance": state.plan.tolerance_value,
        "calibration_id": state.calibration_id,
        "run_id": last.run_id,
        "when": datetime.now(UTC).isoformat(),
    }


def latest_path(home: Path, plan: str, case: str, knob: str) -> Path:
    """Where the latest converged value of ``knob`` for ``plan``/``case`` is kept."""
    for name in (plan, case, knob):
        if not _NAME.fullmatch(name):
            raise InputError(f"{name!r} cannot name a calibration (letters, digits, _ . -)")
    return home / "calibrations" / plan / case / f"{knob}.json"


def calibrated_value(home: Path, plan: str, case: str, knob: str) -> str:
    """The latest converged value of ``knob`` for ``plan``/``case``, as the run gets it."""
    path = latest_path(home, plan, case, knob)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        text = record["text"]
    except FileNotFoundError:
        raise InputError(
            f"no calibration of knob {knob!r} for plan {plan} case {case}: run "
            f"`choreo calibrate --plan {plan} --case {case} --knob {knob} --target …` first"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not a calibration record ({exc}); calibrate again") from None
    if not isinstance(text, str):
        raise InputError(f"{path}: 'text' is {text!r}, expected a string; calibrate again")
    return text


def substitute_calibrated(
    params: Mapping[str, str], home: Path, plan: str, case: str
) -> dict[str, str]:
    """``params`` with every ``@calibrated`` value replaced by the latest converged value
    of that param for ``plan``/``case`` (``--tp sleep_ms=@calibrated``)."""
    return {
        key: calibrated_value(home, plan, case, key) if value.strip() == CALIBRATED else value
        for key, value in params.items()
    }
