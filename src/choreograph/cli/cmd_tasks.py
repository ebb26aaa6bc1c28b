"""``choreo tasks`` and ``choreo status -t ID``: a daemon's queue (needs ``--endpoint``)."""

from __future__ import annotations

from typing import Annotated

import typer

from choreograph.cli import remote, render
from choreograph.cli.options import JsonOption
from choreograph.cli.render_tasks import task_detail, tasks_table
from choreograph.cli.reporting import reported
from choreograph.config import load_settings

TaskOption = Annotated[str, typer.Option("--task", "-t", help="Task id (from `choreo tasks`).")]


def tasks(
    state: Annotated[
        str | None, typer.Option("--state", help="scheduled, processing, complete or canceled.")
    ] = None,
    plan: Annotated[str | None, typer.Option("--plan", help="Only this plan's tasks.")] = None,
    branch: Annotated[str | None, typer.Option("--branch", help="Only this branch's.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="At most N.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """Tasks in the daemon's queue, newest first."""
    chosen = {"state": state, "plan": plan, "branch": branch}
    with reported():
        daemon = remote.client(load_settings())
        try:
            page = daemon.tasks({k: v for k, v in chosen.items() if v is not None}, limit)
        finally:
            daemon.close()
    if as_json:
        render.print_json({"tasks": [task.model_dump(mode="json") for task in page.tasks]})
        return
    tasks_table(page.tasks)


def status(task: TaskOption) -> None:
    """One task: its state, outcome, exit status, timings and run."""
    with reported():
        daemon = remote.client(load_settings())
        try:
            found = daemon.task(task)
        finally:
            daemon.close()
    task_detail(found)


def register(app: typer.Typer) -> None:
    app.command("tasks")(tasks)
    app.command("status")(status)
