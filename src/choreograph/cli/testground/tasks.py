"""Tasks as Testground's ``status``, ``logs`` and ``tasks`` show them, whether they are a
daemon's tasks or runs made here (embedded, no daemon), so a script's
``testground status -t ID | awk '/Outcome:/{ print $2 }'`` reads the same word.

Testground's vocabulary: a task's state is ``scheduled``, ``processing``, ``complete`` or
``canceled``; its outcome ``success``, ``failure``, ``canceled``, or ``unknown`` until it
completes. A run whose build failed reads ``canceled`` (Testground cancels the runs of a
broken build).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from choreograph.cli.testground import lines

if TYPE_CHECKING:
    from choreograph.daemon.schemas import Task

# run.json status -> (Testground state, outcome)
_RUN_STATUS = {
    "building": ("processing", "unknown"),
    "running": ("processing", "unknown"),
    "success": ("complete", "success"),
    "failure": ("complete", "failure"),
    "aborted": ("complete", "failure"),
    "build-failed": ("canceled", "canceled"),
    "interrupted": ("canceled", "canceled"),
    "canceled": ("canceled", "canceled"),
}
BUILD_FAILED = 3


@dataclass(frozen=True)
class TaskView:
    id: str
    created: str
    updated: str
    type: str
    state: str
    outcome: str
    plan: str = ""
    case: str = ""
    priority: int = 0
    seconds: float = 0.0
    error: str = ""


def from_task(task: Task) -> TaskView:
    """A daemon's task."""
    if task.state in ("scheduled", "processing"):
        outcome = "unknown"
    elif task.state == "canceled" or task.outcome == "canceled":
        outcome = "canceled"
    elif task.outcome == "error":
        outcome = "canceled" if task.exit_code == BUILD_FAILED else "failure"
    else:
        outcome = task.outcome or "unknown"
    ended = task.ended or task.started or task.created
    return TaskView(
        id=task.id,
        created=task.created,
        updated=ended,
        type=task.kind,
        state=task.state,
        outcome=outcome,
        plan=task.plan,
        case=task.target,
        priority=1,
        seconds=_seconds(task.created, ended),
        error=task.error,
    )


def from_run(record: dict[str, Any], status: str) -> TaskView:
    """A run made here: its ``run.json`` and its effective status (a run whose owner
    died reads ``aborted``)."""
    state, outcome = _RUN_STATUS.get(status, ("complete", "unknown"))
    spec = record.get("spec", {})
    started = str(record.get("started", ""))
    ended = str(record.get("ended", "")) or started
    return TaskView(
        id=str(record.get("run_id", "")),
        created=started,
        updated=ended,
        type="run",
        state=state,
        outcome=outcome,
        plan=str(spec.get("plan", "")),
        case=str(spec.get("case", "")),
        priority=1,
        seconds=_seconds(started, ended),
        error=str(record.get("error", "")),
    )


def _seconds(start: str, end: str) -> float:
    try:
        took = datetime.fromisoformat(end) - datetime.fromisoformat(start)
        return max(0.0, took.total_seconds())
    except ValueError:
        return 0.0


def print_task(view: TaskView) -> None:
    """Testground's ``status`` block: ``Field:<tabs>value`` lines."""
    for label, value in (
        ("ID:\t\t", view.id),
        ("Priority:\t", view.priority),
        ("Created:\t", view.created),
        ("Type:\t\t", view.type),
        ("Status:\t\t", view.state),
        ("Outcome:\t", view.outcome),
        ("Last update:\t", view.updated),
    ):
        lines.plain(f"{label}{value}")
    if view.error:
        lines.plain(f"Error:\t\t{view.error}")


def print_tasks(views: list[TaskView]) -> None:
    """Testground's ``tasks`` table, columns padded by three spaces."""
    rows = [("ID", "DATE", "TEST PLAN", "TEST CASE", "DURATION", "STATE", "TYPE")]
    rows += [
        (v.id, v.created, v.plan, v.case, f"{int(v.seconds)}s", v.state, v.type) for v in views
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        lines.plain("   ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
