"""``choreo run … --repeat N | --until-stable METRIC``: the options and their execution.

The ``run single`` and ``run composition`` commands take these options and hand them
here when a series was asked for; a plain run never comes this way.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

import typer

from choreograph import eventloop
from choreograph.cli import render
from choreograph.cli.interrupts import stop_on_signals
from choreograph.cli.render_results import series_line, series_summary
from choreograph.config import Settings
from choreograph.engine import RunOptions
from choreograph.plan.spec import RunSpec
from choreograph.series import SeriesControl, SeriesState, run_series
from choreograph.series import SeriesPlan as SeriesPlan  # re-exported for cli/app.py

_PANEL = "Repeated runs"
RepeatOption = Annotated[
    int, typer.Option("--repeat", help="Run N times as one series.", rich_help_panel=_PANEL)
]
UntilStableOption = Annotated[
    str | None,
    typer.Option(
        "--until-stable",
        metavar="METRIC",
        help="Rerun until METRIC's mean across runs is known within --rel-ci.",
        rich_help_panel=_PANEL,
    ),
]
RelCiOption = Annotated[
    float,
    typer.Option(
        "--rel-ci", help="Target CI half-width, a fraction of the mean.", rich_help_panel=_PANEL
    ),
]
ConfidenceOption = Annotated[
    float,
    typer.Option("--confidence", help="Confidence level of the interval.", rich_help_panel=_PANEL),
]
MaxRunsOption = Annotated[
    int, typer.Option("--max-runs", help="Stop after this many runs.", rich_help_panel=_PANEL)
]
MinRunsOption = Annotated[
    int, typer.Option("--min-runs", help="Never stop before this many.", rich_help_panel=_PANEL)
]


def series_plan(
    repeat: int,
    until_stable: str | None,
    rel_ci: float,
    confidence: float,
    max_runs: int,
    min_runs: int,
) -> SeriesPlan | None:
    """The series asked for, or None for one plain run."""
    if repeat == 1 and until_stable is None:
        return None
    return SeriesPlan(
        repeat=repeat,
        metric=until_stable,
        until_stable=until_stable is not None,
        rel_ci=rel_ci,
        confidence=confidence,
        max_runs=max_runs,
        min_runs=min_runs,
    )


def run_series_rendered(
    spec: RunSpec, settings: Settings, options: RunOptions, plan: SeriesPlan, messages: bool
) -> SeriesState:
    """Run the series to its end with live progress and its summary; its state."""
    state = eventloop.run(_series(spec, settings, options, plan, messages))
    series_summary(state)
    return state


def series_document(state: SeriesState) -> dict[str, Any]:
    """A series as ``--json`` prints it: its runs, interval and why it stopped."""
    interval = state.interval
    return {
        "series_id": state.series_id,
        "status": state.status,
        "stop_reason": state.stop_reason,
        "success": state.success,
        "metric": state.plan.metric,
        "means": state.means,
        "interval": None if interval is None else dataclasses.asdict(interval),
        "runs": [render.run_document(result) for result in state.results],
    }


async def _series(
    spec: RunSpec, settings: Settings, options: RunOptions, plan: SeriesPlan, messages: bool
) -> SeriesState:
    control = SeriesControl()
    with stop_on_signals(control.interrupt), render.LiveProgress(show_messages=messages) as live:

        def after_run(state: SeriesState) -> None:
            render.outcome_table(state.results[-1])
            series_line(state)

        return await run_series(spec, settings, options, plan, live, control, after_run)
