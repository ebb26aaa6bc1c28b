"""The module-level face of the API: each call is the same call on a one-off
:class:`~choreograph.api.Controller` (the home given, or the one ``choreo`` uses)."""

from __future__ import annotations

from typing import Unpack

from choreograph.api.controller import Controller, RunArgs
from choreograph.api.results import PathLike, Run, Series
from choreograph.calibrate import Calibration


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
    plan: PathLike | None = None,
    case: str | None = None,
    *,
    knob: str,
    target: float,
    home: PathLike | None = None,
    tolerance: float | None = None,
    metric: str = "cpu_percent",
    group: str | None = None,
    knob_groups: tuple[str, ...] = (),
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
        group=group,
        knob_groups=knob_groups,
        iterations=iterations,
        **args,
    )
