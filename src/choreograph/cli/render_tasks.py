"""How a daemon's tasks look in a terminal (``choreo tasks``, ``choreo status``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

from choreograph.cli.render import console

if TYPE_CHECKING:
    from choreograph.daemon.schemas import Task

_STYLE = {"success": "green", "failure": "red", "error": "red", "canceled": "yellow"}


def tasks_table(tasks: list[Task]) -> None:
    """One row per task; the id (which other commands take) and states are never wrapped,
    and the id says when the task was submitted."""
    if not tasks:
        console.print("no tasks")
        return
    table = Table(show_edge=False, pad_edge=False)
    for column in ("task", "plan", "case", "branch", "state", "outcome"):
        wrap = column in ("plan", "case", "branch")
        table.add_column(column, no_wrap=not wrap, overflow="fold")
    for t in tasks:
        exit_code = "" if t.exit_code is None else f" (exit {t.exit_code})"
        table.add_row(
            t.id,
            t.plan,
            t.target,
            t.metadata.branch,
            t.state,
            Text(t.outcome + exit_code, style=_STYLE.get(t.outcome, "")),
        )
    console.print(table)


def task_detail(task: Task) -> None:
    m = task.metadata
    rows = [
        ("task", task.id),
        ("kind", task.kind),
        ("plan", task.plan),
        ("case", task.target),
        ("submitter", task.submitter),
        ("repo", m.repo),
        ("branch", m.branch),
        ("commit", m.commit),
        ("state", task.state),
        ("outcome", task.outcome),
        ("exit status", "" if task.exit_code is None else str(task.exit_code)),
        ("error", task.error),
        ("created", task.created),
        ("started", task.started),
        ("ended", task.ended),
        ("run", task.run_id),
    ]
    for name, value in rows:
        if value:
            console.print(Text.assemble((f"{name:>12}", "bold"), "  ", value), soft_wrap=True)
