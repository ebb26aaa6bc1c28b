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
    run_id: Annotated[str, typer.Argument(help="Run id (or unique prefix).")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Archive path (.tgz).")
    ] = None,
) -> None:
    """Archive a run's folder (run.json and every instance's outputs) as a .tgz; links
    and special files are left out and counted."""
    with reported():
        layout = find_run(load_settings().runs_dir, run_id)
        report = collect_run(layout, output or Path(f"{layout.run_id}.tgz"))
    render.console.print(f"wrote {report.archive} ({report.size} bytes, {report.files} files)")
    if report.skipped:
        render.warn(report.skipped_summary())


def register(app: typer.Typer) -> None:
    app.command("collect")(collect)
