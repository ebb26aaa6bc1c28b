"""The scheduler: runs scheduled tasks first in, first out, at most ``workers`` at once,
each through :func:`choreograph.engine.execute` (or the build path of ``choreo build``),
its progress appended to the task's event log.

Tasks that carry a branch can be held for ``branch_settle_s`` after they are submitted
before a worker takes them, so a burst of submissions for one branch (CI pushing twice)
keeps only the newest under a branch limit. Testground's scheduler behaved so because its
workers polled the queue once a second; its CI scripts (``19_limit_runs_per_branch``)
rely on it, so ``testground daemon`` settles branch tasks (for 3 s: see its command).

State lives in the store, not here: a task is taken by turning it ``processing`` in one
transaction, so a daemon that dies leaves a trace the next one reads on start
(:meth:`Scheduler.recover`). Canceling a queued task is a state change; canceling a
running one is the engine's :class:`~choreograph.engine.StopRequest`, so its instances
get their grace period and its run folder says why it stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from choreograph import exits
from choreograph.builds import build_each
from choreograph.config import Settings
from choreograph.daemon.events import EventLog
from choreograph.daemon.inputs import TaskFolder, resolve
from choreograph.daemon.schemas import Task, result_to_json
from choreograph.daemon.tasks import TaskStore
from choreograph.engine import RunOptions, StopRequest, execute
from choreograph.results import liveness
from choreograph.results.layout import new_run_id

log = logging.getLogger("choreograph.daemon")

RESTART_ERROR = "daemon restart"


@dataclass(frozen=True)
class Ending:
    """How a task ended: the store's ``outcome``, the CLI's exit status, the message."""

    outcome: str
    exit_code: int
    error: str = ""


class Scheduler:
    def __init__(
        self,
        store: TaskStore,
        settings: Settings,
        tasks_dir: Path,
        workers: int = 1,
        branch_limit: int = 0,
        branch_settle_s: float = 0.0,
    ) -> None:
        self.store, self.settings, self.tasks_dir = store, settings, tasks_dir
        self.workers, self.branch_limit = max(1, workers), branch_limit
        self.branch_settle_s = max(0.0, branch_settle_s)
        self._running: dict[str, StopRequest] = {}
        self._wake = asyncio.Event()

    def folder(self, task_id: str) -> TaskFolder:
        return TaskFolder(self.tasks_dir / task_id)

    def recover(self) -> list[str]:
        """Tasks a dead daemon was running become canceled (their run folders stay, and
        the engine's liveness check marks those runs aborted); queued ones stay queued."""
        canceled = self.store.interrupted(RESTART_ERROR)
        liveness.mark_aborted(self.settings.runs_dir)
        self._wake.set()
        return canceled

    def submitted(self, task: Task) -> list[str]:
        """Wake the workers; with a branch limit, cancel the oldest queued tasks of the
        task's repository and branch beyond it (``superseded``). Returns the ids
        superseded."""
        superseded: list[str] = []
        branch, repo = task.metadata.branch, task.metadata.repo
        if self.branch_limit > 0 and branch:
            queued = self.store.queued_on_branch(branch, repo)
            for old in queued[: max(0, len(queued) - self.branch_limit)]:
                reason = f"superseded by {task.id} (branch {branch})"
                if self.store.finish(old, "canceled", "canceled", 1, reason, ("scheduled",)):
                    superseded.append(old)
        self._wake.set()
        return superseded

    def cancel(self, task_id: str, by: str) -> bool:
        """Cancel a queued task, or ask a running one to stop; False if it had ended."""
        reason = f"canceled by {by}"
        if self.store.finish(task_id, "canceled", "canceled", 1, reason, ("scheduled",)):
            return True
        stop = self._running.get(task_id)
        if stop is None:
            return False
        stop.request(reason)
        return True

    def statistics(self) -> dict[str, int]:
        return {"workers": self.workers, "running": len(self._running)}

    async def serve(self) -> None:
        """Run tasks until cancelled; running tasks are stopped with the daemon."""
        async with asyncio.TaskGroup() as tg:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._until_settled())
                self._wake.clear()
                while len(self._running) < self.workers:
                    task = self.store.next_scheduled(self._settled_before())
                    if task is None:
                        break
                    self._running[task.id] = StopRequest()
                    tg.create_task(self._work(task))

    def _settled_before(self) -> str | None:
        """Branch tasks submitted after this time are still settling (None: no settling)."""
        if not self.branch_settle_s:
            return None
        return (datetime.now(UTC) - timedelta(seconds=self.branch_settle_s)).isoformat()

    def _until_settled(self) -> float | None:
        """Seconds until the oldest settling task may start (None: nothing to wait for)."""
        if not self.branch_settle_s or len(self._running) >= self.workers:
            return None
        created = self.store.oldest_settling()
        if created is None:
            return None
        ready = datetime.fromisoformat(created) + timedelta(seconds=self.branch_settle_s)
        return max(0.01, (ready - datetime.now(UTC)).total_seconds())

    async def _work(self, task: Task) -> None:
        stop = self._running[task.id]
        events = EventLog(self.folder(task.id).events)
        try:
            ending = await self._attempt(task, events, stop)
        except asyncio.CancelledError:
            self.store.finish(task.id, "canceled", "canceled", 1, "daemon stopped")
            raise
        finally:
            events.close()
            del self._running[task.id]
            self._wake.set()
        state = "canceled" if stop.reason.startswith("canceled by") else "complete"
        outcome = "canceled" if state == "canceled" else ending.outcome
        self.store.finish(task.id, state, outcome, ending.exit_code, ending.error or stop.reason)

    async def _attempt(self, task: Task, events: EventLog, stop: StopRequest) -> Ending:
        try:
            return await self._execute(task, events, stop)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            code = exits.exit_status(exc)
            if code is None:
                log.exception("task %s: internal error", task.id)
                return Ending("error", exits.EXIT_FAILED, f"internal error: {exc!r}")
            return Ending("error", code, exits.message(exc))

    async def _execute(self, task: Task, events: EventLog, stop: StopRequest) -> Ending:
        request, settings = task.request, self.settings
        specs = resolve(self.folder(task.id), request)
        if request.kind == "build":
            for spec in specs:
                await build_each(spec, settings, events)
            return Ending("success", exits.EXIT_OK)
        ok = True
        for spec in specs:
            if stop.event.is_set():
                break
            run_id = new_run_id()
            self.store.set_run(task.id, run_id)
            options = RunOptions(
                timeout_s=request.timeout_s or settings.run_timeout_s,
                fail_fast=request.fail_fast,
                stop_grace_s=settings.stop_grace_s,
                run_id=run_id,
            )
            result = await execute(spec, settings, options, events, stop)
            events.record(result_to_json(result))
            ok = ok and result.success
        return Ending("success", 0) if ok else Ending("failure", exits.EXIT_FAILED)
