"""``choreo collect``: archive a run folder as a ``.tgz`` (see results/collect.py for what
goes in and what is left out)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from choreograph.cli import render
from choreograph.cli.reporting import reported
from choreograph.config import load_settings
from choreograph.results.collect import collect_run
from choreograph.results.layout import find_run


def collect(
    run_id: Annotated[
        str | None, typer.Argument(help="Run id (or unique prefix), or latest.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Archive path (.tgz).")
    ] = None,
    task: Annotated[
        str | None,
        typer.Option("--task", "-t", help="Download a daemon task's archive (--endpoint)."),
    ] = None,
) -> None:
    """Archive a run's folder (run.json and every instance's outputs) as a .tgz; links
    and special files are left out and counted. With -t, download the archive the
    daemon makes of its task's run."""
    if task is not None or run_id is None:
        _task_outputs(task, output)
        return
    with reported():
        archive_run(run_id, output)


def archive_run(run_id: str, output: Path | None) -> Path:
    """Archive the run ``run_id`` (or a unique prefix) as ``output`` (default
    ``<run id>.tgz`` here) and say what was written; the archive's path."""
    layout = find_run(load_settings().runs_dir, run_id)
    report = collect_run(layout, output or Path(f"{layout.run_id}.tgz"))
    render.console.print(f"wrote {report.archive} ({report.size} bytes, {report.files} files)")
    if report.skipped:
        render.warn(report.skipped_summary())
    return report.archive


def _task_outputs(task: str | None, output: Path | None) -> None:
    from choreograph.cli.remote import download_outputs

    if task is None:
        render.error("give a run id, or -t TASK for a daemon's task")
        raise typer.Exit(2)
    with reported():
        download_outputs(load_settings(), task, output)


def register(app: typer.Typer) -> None:
    app.command("collect")(collect)
