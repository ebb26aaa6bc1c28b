"""``choreo calibrate``: find the knob value that puts a metric on target (see
:mod:`choreograph.calibrate`), one short run per iteration, and keep it for
``--tp knob=@calibrated``. Exit 0 converged, 1 not converged, 2 bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from choreograph import eventloop, progress, workspace
from choreograph.calibrate import (
    Calibration,
    CalibrationPlan,
    knob_is_integer,
    substitute_calibrated,
)
from choreograph.calibrate import calibrate as run_calibration
from choreograph.cli import durations, render
from choreograph.cli.interrupts import stop_on_signals
from choreograph.cli.reporting import reported, resolve_specs
from choreograph.config import Settings
from choreograph.engine import RunOptions, StopRequest
from choreograph.errors import InputError
from choreograph.plan import load_manifest, parse_test_param_flags, resolve_single
from choreograph.plan.resolve import select_run
from choreograph.plan.spec import RunSpec

_CONTROL = "Controller"


def calibrate(
    knob: Annotated[str, typer.Option("--knob", help="The test param to drive (int or float).")],
    target: Annotated[float, typer.Option("--target", help="The metric's value to reach.")],
    plan: Annotated[str | None, typer.Option("--plan", "-p", help="Plan name or folder.")] = None,
    case: Annotated[str | None, typer.Option("--case", "-c", help="Test case name.")] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", "-f", help="A composition to calibrate, instead of --plan/--case."),
    ] = None,
    composition_run: Annotated[
        str | None,
        typer.Option("--run", help="Which [[runs]] entry of the composition, when it has several."),
    ] = None,
    knob_groups: Annotated[
        list[str] | None,
        typer.Option(
            "--knob-group",
            help="Drive the knob in this group only (repeatable; default: every group).",
        ),
    ] = None,
    tolerance: Annotated[
        float | None,
        typer.Option("--tolerance", help="Converged within ± this (default 1% of the target)."),
    ] = None,
    metric: Annotated[
        str,
        typer.Option(
            "--metric",
            help="cpu_percent or rss_bytes (resource samples), or any metric the plan records.",
        ),
    ] = "cpu_percent",
    group: Annotated[
        str | None, typer.Option("--group", help="Measure this group only (default: all).")
    ] = None,
    instances: Annotated[
        int | None, typer.Option("--instances", "-i", help="Instance count.")
    ] = None,
    kp: Annotated[
        float | None,
        typer.Option(
            "--kp",
            help="Knob change per unit of error (default: estimated from the slope).",
            rich_help_panel=_CONTROL,
        ),
    ] = None,
    ki: Annotated[
        float,
        typer.Option("--ki", help="Integral gain (default 0: P only).", rich_help_panel=_CONTROL),
    ] = 0.0,
    low: Annotated[
        float, typer.Option("--min", help="Lowest knob value.", rich_help_panel=_CONTROL)
    ] = 0.0,
    high: Annotated[
        float | None,
        typer.Option(
            "--max",
            help="Highest knob value (default 10 x the start, or 100).",
            rich_help_panel=_CONTROL,
        ),
    ] = None,
    max_step: Annotated[
        float | None,
        typer.Option(
            "--max-step",
            help="Largest change between runs (default a quarter of the range).",
            rich_help_panel=_CONTROL,
        ),
    ] = None,
    start: Annotated[
        float | None,
        typer.Option(
            "--start", help="First value (default: the case's own).", rich_help_panel=_CONTROL
        ),
    ] = None,
    iterations: Annotated[
        int, typer.Option("--iterations", help="Runs at most.", rich_help_panel=_CONTROL)
    ] = 12,
    tp: Annotated[
        list[str] | None,
        typer.Option("--tp", help="Other test param override KEY=VALUE (repeatable)."),
    ] = None,
    runner: Annotated[str | None, typer.Option("--runner", help="Runner id.")] = None,
    builder: Annotated[str | None, typer.Option("--builder", help="Builder id.")] = None,
    timeout: Annotated[
        float | None,
        durations.option(
            "--timeout", help="Timeout of each run: 30s, 10m; a plain number is seconds."
        ),
    ] = None,
) -> None:
    """Drive KNOB until METRIC is within TOLERANCE of TARGET, one run per iteration;
    the converged value feeds later runs as --tp KNOB=@calibrated."""
    integer: list[bool] = []

    def resolve(settings: Settings) -> list[RunSpec]:
        params = parse_test_param_flags(tp or [])
        if knob in params:
            raise InputError(f"--tp {knob}=… sets the knob itself: give its first value as --start")
        if file is not None:
            if plan is not None or case is not None:
                raise InputError("give either --plan and --case, or a composition --file")
            spec = _composed(file, composition_run, settings, tp or [], builder, runner)
            if instances is not None:
                raise InputError("--instances: a composition gives each group its own count")
        else:
            spec = _single(plan, case, settings, params, instances, builder, runner)
        manifest = load_manifest(spec.plan_dir / workspace.MANIFEST)
        declared = manifest.case(spec.case).params.get(knob)
        integer.append(knob_is_integer(knob, None if declared is None else declared.type))
        return [spec]

    with reported():
        settings, (spec,) = resolve_specs(resolve)
        calibration_plan = CalibrationPlan(
            knob=knob,
            target=target,
            tolerance=tolerance,
            metric=metric,
            group=group,
            knob_groups=tuple(knob_groups or ()),
            low=low,
            high=high,
            start=start,
            max_step=max_step,
            kp=kp,
            ki=ki,
            iterations=iterations,
            integer=integer == [True],
        )
        options = RunOptions(
            timeout_s=timeout or settings.run_timeout_s, stop_grace_s=settings.stop_grace_s
        )
        state = eventloop.run(_calibrate(spec, settings, calibration_plan, options))
    _verdict(state)
    if not state.converged:
        raise typer.Exit(1)


def _single(
    plan: str | None,
    case: str | None,
    settings: Settings,
    params: dict[str, str],
    instances: int | None,
    builder: str | None,
    runner: str | None,
) -> RunSpec:
    if plan is None or case is None:
        raise InputError("calibrate what? give --plan and --case, or a composition --file")
    plan_dir = workspace.find_plan(plan, settings.plans_dir)
    manifest_file = plan_dir / workspace.MANIFEST
    manifest = load_manifest(manifest_file)
    return resolve_single(
        manifest,
        plan_dir,
        case=case,
        instances=instances,
        test_params=substitute_calibrated(params, settings.home, manifest.name, case),
        builder=builder,
        runner=runner,
        manifest_file=str(manifest_file),
    )


def _composed(
    file: Path,
    wanted: str | None,
    settings: Settings,
    tp: list[str],
    builder: str | None,
    runner: str | None,
) -> RunSpec:
    """The one run of the composition ``file`` to calibrate (``--run`` when it has several)."""
    from choreograph.cli.app import composition_specs

    specs = composition_specs(file, settings, tp, builder, runner)
    return select_run(specs, wanted, file, "--run ID")


async def _calibrate(
    spec: RunSpec, settings: Settings, plan: CalibrationPlan, options: RunOptions
) -> Calibration:
    stop = StopRequest()
    with stop_on_signals(stop.request), render.LiveProgress() as live:

        def sink(event: progress.ProgressEvent) -> None:
            if not (isinstance(event, progress.BuildFinished) and event.from_cache):
                live(event)

        return await run_calibration(
            spec, settings, plan, sink, options=options, stop=stop, after=_iteration_line
        )


def _iteration_line(state: Calibration) -> None:
    """``  3  sleep_ms=4.5 → cpu_percent 68.9  error +1.1``"""
    it, plan = state.iterations[-1], state.plan
    measured = "no samples" if it.measured is None else f"{it.measured:.4g}"
    error = "" if it.error is None else f"  error {it.error:+.4g}"
    render.console.print(
        Text.assemble(
            (f"{len(state.iterations):>3}  ", "bold"),
            f"{plan.knob}={it.text} → {plan.metric} {measured}{error}  ({it.seconds:.1f}s)",
        ),
        soft_wrap=True,
    )


def _verdict(state: Calibration) -> None:
    plan, runs = state.plan, state.iterations
    seconds = sum(i.seconds for i in runs)
    if state.converged:
        render.console.print(
            Text.assemble(
                ("converged", "bold green"),
                f": {plan.knob}={state.text} ({state.reason}) after {len(runs)} runs, "
                f"{seconds:.1f}s of runs; use it with --tp {plan.knob}=@calibrated",
            ),
            soft_wrap=True,
        )
    else:
        render.console.print(
            Text.assemble(
                (f"did not converge ({state.status})", "bold red"),
                f": {state.reason} ({len(runs)} runs, {seconds:.1f}s of runs)",
            ),
            soft_wrap=True,
        )
    render.console.print(f"record: {state.record}", soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("calibrate")(calibrate)
