"""What the streaming routes send, as async generators of server-sent events: a task's
progress events from its event log, and its instances' log lines from the run folder,
both followed until the task ends and closed with an ``end`` event."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from choreograph.daemon.events import EventReader
from choreograph.daemon.schemas import FINAL_STATES, Task
from choreograph.daemon.tasks import TaskStore
from choreograph.results.layout import RunLayout
from choreograph.results.merged_log import LogFollower

POLL_S = 0.05

Sse = dict[str, str]


def end_event(task: Task | None) -> Sse:
    """The last event of a stream: how the task ended (``deleted`` if it is gone)."""
    if task is None:
        data: dict[str, Any] = {"state": "deleted", "outcome": "", "exit_code": None, "error": ""}
    else:
        data = task.model_dump(include={"state", "outcome", "exit_code", "error", "run_id"})
    return {"event": "end", "data": json.dumps(data)}


async def task_events(
    store: TaskStore, task_id: str, events: Path, skip: int
) -> AsyncIterator[Sse]:
    """Every record of the event log after the first ``skip`` (a client's
    ``Last-Event-ID``), then new ones as they come, then ``end``."""
    reader, number = EventReader(events), 0
    while True:
        task = store.get(task_id)  # read before the last poll: nothing written is missed
        for record in reader.poll():
            number += 1
            if number > skip:
                yield {"event": "progress", "id": str(number), "data": json.dumps(record)}
        if task is None or task.state in FINAL_STATES:
            yield end_event(task)
            return
        await asyncio.sleep(POLL_S)


def instance_sources(layout: RunLayout) -> dict[str, Path]:
    """Every instance the run will have → its ``run.out``."""
    groups = layout.read_run_json().get("spec", {}).get("groups", [])
    keys = [f"{g['id']}/{i}" for g in groups for i in range(int(g.get("instances", 0)))]
    return {key: layout.instance_dir(key) / "run.out" for key in keys}


async def wait_run(store: TaskStore, runs_dir: Path, task_id: str, follow: bool) -> Task | None:
    """The task once its run folder exists (None without ``follow`` while it does not)."""
    while True:
        task = store.get(task_id)
        if task is None:
            return None
        if task.run_id and RunLayout(runs_dir, task.run_id).run_json.is_file():
            return task
        if not follow or task.state in FINAL_STATES:
            return None
        await asyncio.sleep(POLL_S)


async def log_lines(
    store: TaskStore, task_id: str, layout: RunLayout, sources: dict[str, Path], follow: bool
) -> AsyncIterator[Sse]:
    """Log lines of ``sources`` merged by time (a ``line`` event each), until the task
    ends when following, then ``end``."""
    follower = LogFollower(sources)
    while True:
        task = store.get(task_id)
        done = not follow or task is None or task.state in FINAL_STATES
        for line in follower.poll():
            data = {
                "instance": line.instance,
                "number": line.number,
                "text": line.text,
                "flags": list(line.flags),
            }
            yield {"event": "line", "data": json.dumps(data)}
        if done:
            yield end_event(task)
            return
        await asyncio.sleep(POLL_S * 2)


async def no_lines(task: Task | None) -> AsyncIterator[Sse]:
    yield end_event(task)
