"""``choreo logs``: an instance's output, every instance's, or all of them merged by time."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from choreograph.cli import durations, render
from choreograph.cli.render_results import log_line
from choreograph.cli.reporting import reported
from choreograph.config import load_settings
from choreograph.results.layout import RunLayout
from choreograph.results.merged_log import LogFollower, LogLine, merge, read_instance
from choreograph.results.tables import locate_run

_ENDED = ("success", "failure")


def logs(
    run: Annotated[
        str | None, typer.Argument(help="Run id (or unique prefix), run folder, or latest.")
    ] = None,
    merged: Annotated[
        bool, typer.Option("--merged", help="Interleave every instance's events by time.")
    ] = False,
    instance: Annotated[
        str | None, typer.Option("--instance", help="Only this instance, as GROUP/INDEX.")
    ] = None,
    follow: Annotated[
        bool,
        typer.Option("--follow", "-f", help="Keep printing until the run (or task) ends."),
    ] = False,
    poll: Annotated[
        float, durations.option("--poll", help="Time between reads with --follow: 250ms, 1s.")
    ] = 0.25,
    task: Annotated[
        str | None,
        typer.Option("--task", "-t", help="A daemon's task instead of a run (--endpoint)."),
    ] = None,
) -> None:
    """Print a run's instance logs (run.out), events rendered; events out of sequence
    (a gap or reversal in an instance's seq, a timestamp going back) are flagged. With
    -t, a daemon task's logs, merged by time (-f follows)."""
    if task is not None or run is None:
        flagged = _task_logs(task, instance, follow)
        if flagged:
            render.warn(f"{flagged} line(s) out of sequence (marked !!)")
        return
    with reported(OSError):
        layout = locate_run(run, load_settings().runs_dir)
        groups = layout.read_run_json().get("spec", {}).get("groups", [])
    # Every instance the run will have, so --follow also shows those not started yet.
    keys = [f"{g['id']}/{i}" for g in groups for i in range(int(g.get("instances", 0)))]
    sources = {key: layout.instance_dir(key) / "run.out" for key in keys}
    if instance is not None:
        if instance not in sources:
            known = ", ".join(sources) or "none yet"
            render.error(f"run {layout.run_id} has no instance {instance!r} (it has: {known})")
            raise typer.Exit(2)
        sources = {instance: sources[instance]}
    show_instance = merged or len(sources) > 1
    if follow:
        flagged = _follow(layout, sources, poll, show_instance)
    else:
        flagged = _print(sources, merged, show_instance)
    if flagged:
        render.warn(f"{flagged} line(s) out of sequence (marked !!)")


def _print(sources: dict[str, Path], merged: bool, show_instance: bool) -> int:
    per_instance = {key: read_instance(key, path) for key, path in sources.items()}
    lines: list[LogLine]
    if merged:
        lines = merge(per_instance.values())
        for line in lines:
            log_line(line, show_instance)
    else:
        lines = []
        for key, own in per_instance.items():
            if len(sources) > 1:
                render.console.print(Text(f"== {key} ==", style="bold"))
            for line in own:
                log_line(line, with_instance=False)
            lines += own
    return sum(line.out_of_sequence for line in lines)


def _follow(layout: RunLayout, sources: dict[str, Path], poll: float, show: bool) -> int:
    follower, flagged = LogFollower(sources), 0
    while True:
        ended = layout.read_run_json().get("status") in _ENDED  # read before the last poll
        for line in follower.poll():
            log_line(line, show)
            flagged += line.out_of_sequence
        if ended:
            return flagged
        time.sleep(poll)


def _task_logs(task: str | None, instance: str | None, follow: bool) -> int:
    from choreograph.cli.remote import print_logs

    if task is None:
        render.error("give a run id, or -t TASK for a daemon's task")
        raise typer.Exit(2)
    with reported():
        return print_logs(load_settings(), task, instance, follow)


def register(app: typer.Typer) -> None:
    app.command("logs")(logs)
