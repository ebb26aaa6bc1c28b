"""Is the process that owns a run still alive? Dead runs are ``aborted``, not ``running``.

``run.json`` records its owner (host, pid, and the pid's start time, so a recycled pid is not
mistaken for the owner). A record still saying ``building`` or ``running`` whose owner is
gone on this host was cut short (SIGKILL, an internal crash, a power cut): readers show it as
``aborted``, and :func:`mark_aborted` writes that down (``healthcheck --fix`` and the start
of every run do). A run owned by another host is left as it says: we cannot look.

A live run also holds a ``.live`` file (its owner) in its folder until it ends, so finding
dead runs reads only those, not every ``run.json`` of the home folder.
"""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from choreograph.results.layout import RunLayout, write_json

LIVE_MARK = ".live"

LIVE_STATUSES = ("building", "running")


def owner_record() -> dict[str, Any]:
    """This process as a run's owner."""
    return {"host": platform.node(), "pid": os.getpid(), "started": _start_time(os.getpid())}


def owner_alive(owner: Any) -> bool | None:
    """True/False for an owner on this host; None when it cannot be told (another host,
    an old record without an owner)."""
    if not isinstance(owner, dict) or owner.get("host") != platform.node():
        return None
    pid, started = owner.get("pid"), owner.get("started")
    if not isinstance(pid, int) or not isinstance(started, int | float):
        return None
    current = _start_time(pid)
    return current is not None and abs(current - started) < 1.0


def effective_status(record: dict[str, Any]) -> str:
    """The status to show: the recorded one, or ``aborted`` for a live status whose owner
    is gone."""
    status = str(record.get("status", "?"))
    if status in LIVE_STATUSES and owner_alive(record.get("owner")) is False:
        return "aborted"
    return status


def mark_live(layout: RunLayout, owner: dict[str, Any]) -> None:
    write_json(layout.root / LIVE_MARK, owner)


def clear_live(layout: RunLayout) -> None:
    (layout.root / LIVE_MARK).unlink(missing_ok=True)


def dead_runs(runs_dir: Path) -> list[str]:
    """Runs marked live whose owner on this host is gone."""
    dead = []
    for mark in sorted(runs_dir.glob(f"*/{LIVE_MARK}")):
        try:
            owner = json.loads(mark.read_text())
        except (OSError, ValueError):
            owner = None
        if owner_alive(owner) is False:
            dead.append(mark.parent.name)
    return dead


def mark_aborted(runs_dir: Path) -> list[str]:
    """Write ``aborted`` into every dead run's ``run.json``; return their ids."""
    marked = []
    for run_id in dead_runs(runs_dir):
        layout = RunLayout(runs_dir, run_id)
        try:
            record = layout.read_run_json()
        except (OSError, ValueError):
            record = {"run_id": run_id}
        if isinstance(record, dict) and record.get("status", "running") in LIVE_STATUSES:
            record.update(
                status="aborted",
                aborted_from=record.get("status"),
                error=record.get("error") or "its owner process ended without finishing the run",
                ended=record.get("ended") or datetime.now(UTC).isoformat(),
            )
            write_json(layout.run_json, record)
            marked.append(run_id)
        clear_live(layout)
    return marked


def _start_time(pid: int) -> float | None:
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.Error, OSError):
        return None
