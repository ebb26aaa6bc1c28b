"""The scheduler's order and limits, with the engine replaced by a gate the test opens."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from choreograph.config import Settings
from choreograph.daemon.events import EventLog
from choreograph.daemon.queue import Ending, Scheduler
from choreograph.daemon.schemas import Metadata, Task, TaskRequest
from choreograph.daemon.tasks import TaskStore
from choreograph.engine import StopRequest


class FakeEngine:
    """Stands in for Scheduler._execute: records starts, holds each task until released
    (or until it is asked to stop)."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.running = 0
        self.most = 0
        self.gates: dict[str, asyncio.Event] = {}

    async def __call__(self, task: Task, events: EventLog, stop: StopRequest) -> Ending:
        self.started.append(task.id)
        self.running += 1
        self.most = max(self.most, self.running)
        gate = self.gates.setdefault(task.id, asyncio.Event())
        try:
            stopped = asyncio.ensure_future(stop.event.wait())
            opened = asyncio.ensure_future(gate.wait())
            await asyncio.wait([stopped, opened], return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            opened.cancel()
        finally:
            self.running -= 1
        return Ending("failure", 1) if stop.reason else Ending("success", 0)

    def release(self, task_id: str) -> None:
        self.gates.setdefault(task_id, asyncio.Event()).set()


async def _until(predicate: object, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.01)


def _make(tmp_path: Path, workers: int = 1, branch_limit: int = 0) -> tuple[Scheduler, FakeEngine]:
    store = TaskStore(tmp_path / "tasks.sqlite")
    scheduler = Scheduler(store, Settings(home=tmp_path), tmp_path / "tasks", workers, branch_limit)
    fake = FakeEngine()
    scheduler._execute = fake  # type: ignore[method-assign]
    return scheduler, fake


def _submit(scheduler: Scheduler, task_id: str, branch: str = "", repo: str = "") -> None:
    request = TaskRequest(case="c", metadata=Metadata(branch=branch, repo=repo))
    scheduler.store.add(task_id, request, "p", "c", "local")
    task = scheduler.store.get(task_id)
    assert task is not None
    scheduler.submitted(task)


async def _busy(tmp_path: Path, serving: list[asyncio.Task[None]]) -> tuple[Scheduler, FakeEngine]:
    """A served scheduler with a branch limit of 1 and its one worker busy."""
    scheduler, fake = _make(tmp_path, branch_limit=1)
    _submit(scheduler, "busy")
    serving.append(asyncio.create_task(scheduler.serve()))
    await _until(lambda: fake.started == ["busy"])
    return scheduler, fake


def _state(scheduler: Scheduler, task_id: str) -> tuple[str, str, str]:
    task = scheduler.store.get(task_id)
    assert task is not None
    return task.state, task.outcome, task.error


@pytest.fixture
async def serving() -> AsyncIterator[list[asyncio.Task[None]]]:
    tasks: list[asyncio.Task[None]] = []
    yield tasks
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_fifo_one_at_a_time(tmp_path: Path, serving: list[asyncio.Task[None]]) -> None:
    scheduler, fake = _make(tmp_path)
    for n in range(3):
        _submit(scheduler, f"t{n}")
    serving.append(asyncio.create_task(scheduler.serve()))
    for n in range(3):
        await _until(lambda n=n: fake.started[-1:] == [f"t{n}"])
        fake.release(f"t{n}")
    await _until(lambda: _state(scheduler, "t2")[0] == "complete")
    assert fake.started == ["t0", "t1", "t2"] and fake.most == 1
    assert _state(scheduler, "t0") == ("complete", "success", "")


async def test_workers_limit(tmp_path: Path, serving: list[asyncio.Task[None]]) -> None:
    scheduler, fake = _make(tmp_path, workers=2)
    for n in range(5):
        _submit(scheduler, f"t{n}")
    serving.append(asyncio.create_task(scheduler.serve()))
    await _until(lambda: len(fake.started) == 2)
    await asyncio.sleep(0.1)
    assert fake.started == ["t0", "t1"]
    for n in range(5):
        fake.release(f"t{n}")
    await _until(lambda: _state(scheduler, "t4")[0] == "complete")
    assert fake.most == 2 and fake.started == [f"t{n}" for n in range(5)]


async def test_branch_limit_supersedes_oldest_queued(
    tmp_path: Path, serving: list[asyncio.Task[None]]
) -> None:
    scheduler, fake = await _busy(tmp_path, serving)
    _submit(scheduler, "a1", branch="main")
    _submit(scheduler, "b1", branch="other")
    _submit(scheduler, "a2", branch="main")
    state, outcome, error = _state(scheduler, "a1")
    assert (state, outcome) == ("canceled", "canceled") and "superseded by a2" in error
    assert _state(scheduler, "b1")[0] == _state(scheduler, "a2")[0] == "scheduled"
    for task_id in ("busy", "b1", "a2"):
        fake.release(task_id)
    await _until(lambda: _state(scheduler, "a2")[0] == "complete")
    assert fake.started == ["busy", "b1", "a2"]


async def test_cancel_queued_and_running(tmp_path: Path, serving: list[asyncio.Task[None]]) -> None:
    scheduler, fake = _make(tmp_path)
    _submit(scheduler, "running")
    _submit(scheduler, "queued")
    serving.append(asyncio.create_task(scheduler.serve()))
    await _until(lambda: fake.started == ["running"])
    assert scheduler.cancel("queued", "alice")
    assert _state(scheduler, "queued") == ("canceled", "canceled", "canceled by alice")
    assert scheduler.cancel("running", "alice")
    await _until(lambda: _state(scheduler, "running")[0] == "canceled")
    assert _state(scheduler, "running") == ("canceled", "canceled", "canceled by alice")
    assert not scheduler.cancel("running", "alice")  # already ended
    await asyncio.sleep(0.1)
    assert fake.started == ["running"]


async def test_recover_cancels_what_a_dead_daemon_ran(tmp_path: Path) -> None:
    scheduler, _ = _make(tmp_path)
    _submit(scheduler, "was-running")
    _submit(scheduler, "queued")
    scheduler.store.next_scheduled()
    assert scheduler.recover() == ["was-running"]
    assert _state(scheduler, "was-running") == ("canceled", "canceled", "daemon restart")
    assert _state(scheduler, "queued")[0] == "scheduled"


async def test_branch_settle_lets_a_newer_task_supersede(
    tmp_path: Path, serving: list[asyncio.Task[None]]
) -> None:
    """Testground's rule as its scripts see it: two submissions for one branch in quick
    succession with an idle worker, and only the second runs."""
    store = TaskStore(tmp_path / "tasks.sqlite")
    scheduler = Scheduler(store, Settings(home=tmp_path), tmp_path / "tasks", 1, 1, 0.3)
    fake = FakeEngine()
    scheduler._execute = fake  # type: ignore[method-assign]
    serving.append(asyncio.create_task(scheduler.serve()))
    _submit(scheduler, "first", branch="b1")
    await asyncio.sleep(0.05)
    assert fake.started == []  # still settling
    _submit(scheduler, "unbranched")
    await _until(lambda: fake.started == ["unbranched"])  # not held back
    fake.release("unbranched")
    _submit(scheduler, "second", branch="b1")
    assert _state(scheduler, "first")[:2] == ("canceled", "canceled")
    await _until(lambda: fake.started == ["unbranched", "second"])
    fake.release("second")
    await _until(lambda: _state(scheduler, "second")[0] == "complete")


async def test_branch_limit_keys_by_repository(
    tmp_path: Path, serving: list[asyncio.Task[None]]
) -> None:
    scheduler, _ = await _busy(tmp_path, serving)
    _submit(scheduler, "r1", branch="main", repo="repo1")
    _submit(scheduler, "r2", branch="main", repo="repo2")
    assert _state(scheduler, "r1")[0] == _state(scheduler, "r2")[0] == "scheduled"
