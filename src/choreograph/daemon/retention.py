"""Deleting tasks with what they produced: the task folder (inputs, event log, archive)
and the run folders of its runs. Old tasks go by age (``--keep-days``) and by the disk
they take (``--keep-gib``, oldest first); tasks still queued or running are never
deleted.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from choreograph.builders.records import folder_size
from choreograph.config import Settings
from choreograph.daemon.tasks import TaskStore
from choreograph.results.layout import RunLayout

GIB = 1 << 30


def delete_task(store: TaskStore, settings: Settings, tasks_dir: Path, task_id: str) -> None:
    """Remove the task's row, folder and run folders (no link is followed)."""
    for run_id in store.run_ids(task_id):
        root = RunLayout(settings.runs_dir, run_id).root
        if root.parent == settings.runs_dir and root.is_dir() and not root.is_symlink():
            shutil.rmtree(root, ignore_errors=True)
    shutil.rmtree(tasks_dir / task_id, ignore_errors=True)
    store.delete(task_id)


def prune(
    store: TaskStore,
    settings: Settings,
    tasks_dir: Path,
    keep_days: float | None = None,
    keep_gib: float | None = None,
) -> list[str]:
    """Delete ended tasks older than ``keep_days``, then the oldest ended tasks until
    what remains takes at most ``keep_gib``; return the ids deleted."""
    deleted: list[str] = []
    if keep_days is not None:
        cutoff = (datetime.now(UTC) - timedelta(days=keep_days)).isoformat()
        for task_id in store.ended_before(cutoff):
            delete_task(store, settings, tasks_dir, task_id)
            deleted.append(task_id)
    if keep_gib is not None:
        ended = store.ended_oldest_first()
        sizes = {t: _task_bytes(store, settings, tasks_dir, t) for t in ended}
        total = sum(sizes.values())
        for task_id in ended:
            if total <= keep_gib * GIB:
                break
            delete_task(store, settings, tasks_dir, task_id)
            deleted.append(task_id)
            total -= sizes[task_id]
    return deleted


def _task_bytes(store: TaskStore, settings: Settings, tasks_dir: Path, task_id: str) -> int:
    folders = [tasks_dir / task_id, *(settings.runs_dir / r for r in store.run_ids(task_id))]
    return sum(folder_size(folder) for folder in folders)
