"""The task store: one SQLite file, ``<home>/daemon/tasks.sqlite`` (WAL, so the API reads
while a worker writes), one row per task. Ordering is by ``seq`` (insertion order): the
queue takes the oldest scheduled task first, listings show the newest first and page
with ``before`` (a task id). Every filter the API offers has an index led by its
column and ending with ``seq``, so a page of 10,000 tasks costs one index range scan.

One connection, used under a lock: calls are short (a few rows), the API and the
scheduler share one event loop, and retention runs in a thread.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from choreograph.daemon.schemas import FINAL_STATES, Metadata, Task, TaskRequest

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    plan TEXT NOT NULL,
    target TEXT NOT NULL,
    submitter TEXT NOT NULL,
    repo TEXT NOT NULL DEFAULT '',
    branch TEXT NOT NULL DEFAULT '',
    commit_ TEXT NOT NULL DEFAULT '',
    labels TEXT NOT NULL DEFAULT '{}',
    request TEXT NOT NULL,
    state TEXT NOT NULL,
    outcome TEXT NOT NULL DEFAULT '',
    error TEXT NOT NULL DEFAULT '',
    exit_code INTEGER,
    created TEXT NOT NULL,
    started TEXT NOT NULL DEFAULT '',
    ended TEXT NOT NULL DEFAULT '',
    run_id TEXT NOT NULL DEFAULT '',
    run_ids TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS tasks_state ON tasks (state, seq);
CREATE INDEX IF NOT EXISTS tasks_plan ON tasks (plan, seq);
CREATE INDEX IF NOT EXISTS tasks_branch ON tasks (branch, seq);
CREATE INDEX IF NOT EXISTS tasks_submitter ON tasks (submitter, seq);
CREATE INDEX IF NOT EXISTS tasks_queue ON tasks (branch, state, seq);
"""

FILTERS = ("state", "plan", "branch", "submitter")


def now() -> str:
    return datetime.now(UTC).isoformat()


def new_task_id() -> str:
    """20 characters of ``[0-9a-v]`` like Testground's task ids (its integration scripts
    check the length): the time in seconds (7 characters, so ids sort by time), then 65
    random bits, so ids made in the same second (a bulk import) never clash."""
    seconds = int(datetime.now(UTC).timestamp())
    head = "".join(_ID_ALPHABET[seconds >> (5 * i) & 31] for i in reversed(range(7)))
    return head + "".join(secrets.choice(_ID_ALPHABET) for _ in range(13))


_ID_ALPHABET = "0123456789abcdefghijklmnopqrstuv"


class TaskStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=30, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        # WAL with NORMAL: a power cut may lose the last commits, never corrupt the file.
        self._db.execute("PRAGMA synchronous=NORMAL")
        with self._connect() as db:
            db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """The connection, alone (the lock), in one transaction: committed on success,
        rolled back on error."""
        with self._lock, self._db:
            yield self._db

    def add(
        self, task_id: str, request: TaskRequest, plan: str, target: str, submitter: str
    ) -> None:
        m = request.metadata
        with self._connect() as db:
            db.execute(
                "INSERT INTO tasks (id, kind, plan, target, submitter, repo, branch, commit_,"
                " labels, request, state, created) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    task_id,
                    request.kind,
                    plan,
                    target,
                    submitter,
                    m.repo,
                    m.branch,
                    m.commit,
                    json.dumps(m.labels),
                    request.model_dump_json(),
                    "scheduled",
                    now(),
                ),
            )

    def get(self, task_id: str) -> Task | None:
        with self._connect() as db:
            row = db.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
        return None if row is None else _task(row)

    def page(
        self, filters: dict[str, str] | None = None, limit: int = 50, before: str | None = None
    ) -> list[Task]:
        """Newest first; ``before``: only tasks submitted before that task id."""
        where, args = _where(filters or {})
        if before is not None:
            where.append("seq < (SELECT seq FROM tasks WHERE id = ?)")
            args.append(before)
        sql = "SELECT * FROM tasks"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq DESC LIMIT ?"
        with self._connect() as db:
            rows = db.execute(sql, (*args, limit)).fetchall()
        return [_task(row) for row in rows]

    def next_scheduled(self, settled_before: str | None = None) -> Task | None:
        """The oldest scheduled task, now ``processing`` (taken in one transaction).
        With ``settled_before`` (a :func:`now` time), tasks on a branch submitted after
        it are left queued: they are still settling (see ``Scheduler``)."""
        where, args = "state = 'scheduled'", []
        if settled_before is not None:
            where += " AND (branch = '' OR created <= ?)"
            args.append(settled_before)
        with self._connect() as db:
            row = db.execute(
                f"SELECT * FROM tasks WHERE {where} ORDER BY seq LIMIT 1", args
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE tasks SET state = 'processing', started = ? WHERE seq = ?",
                (now(), row["seq"]),
            )
        task = _task(row)
        return task.model_copy(update={"state": "processing"})

    def queued_on_branch(self, branch: str, repo: str = "") -> list[str]:
        """Ids of the scheduled tasks of ``branch`` of ``repo``, oldest first."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT id FROM tasks WHERE branch = ? AND repo = ? AND state = 'scheduled'"
                " ORDER BY seq",
                (branch, repo),
            ).fetchall()
        return [row["id"] for row in rows]

    def oldest_settling(self) -> str | None:
        """When the oldest scheduled task on a branch was submitted (a :func:`now` time)."""
        with self._connect() as db:
            row = db.execute(
                "SELECT created FROM tasks WHERE state = 'scheduled' AND branch != ''"
                " ORDER BY seq LIMIT 1"
            ).fetchone()
        return None if row is None else str(row["created"])

    def set_run(self, task_id: str, run_id: str) -> None:
        with self._connect() as db:
            row = db.execute("SELECT run_ids FROM tasks WHERE id = ?", (task_id,)).fetchone()
            run_ids = [*json.loads(row["run_ids"]), run_id] if row else [run_id]
            db.execute(
                "UPDATE tasks SET run_id = ?, run_ids = ? WHERE id = ?",
                (run_id, json.dumps(run_ids), task_id),
            )

    def run_ids(self, task_id: str) -> list[str]:
        with self._connect() as db:
            row = db.execute("SELECT run_ids FROM tasks WHERE id = ?", (task_id,)).fetchone()
        return [] if row is None else list(json.loads(row["run_ids"]))

    def finish(
        self,
        task_id: str,
        state: str,
        outcome: str,
        exit_code: int,
        error: str = "",
        only_if: tuple[str, ...] = ("scheduled", "processing"),
    ) -> bool:
        """End a task unless it already ended (or is not in ``only_if``); True if it did."""
        marks = ",".join("?" * len(only_if))
        with self._connect() as db:
            cursor = db.execute(
                f"UPDATE tasks SET state = ?, outcome = ?, exit_code = ?, error = ?, ended = ?"
                f" WHERE id = ? AND state IN ({marks})",
                (state, outcome, exit_code, error, now(), task_id, *only_if),
            )
        return cursor.rowcount == 1

    def interrupted(self, error: str) -> list[str]:
        """Mark every ``processing`` task canceled with ``error`` (their worker is gone)."""
        with self._connect() as db:
            ids = [r["id"] for r in db.execute("SELECT id FROM tasks WHERE state='processing'")]
        return [i for i in ids if self.finish(i, "canceled", "canceled", 1, error, ("processing",))]

    def delete(self, task_id: str) -> None:
        with self._connect() as db:
            db.execute("DELETE FROM tasks WHERE id = ?", (task_id,))

    def ended_before(self, moment: str) -> list[str]:
        """Ended tasks that ended before ``moment`` (ISO time), oldest first."""
        marks = ",".join("?" * len(FINAL_STATES))
        with self._connect() as db:
            rows = db.execute(
                f"SELECT id FROM tasks WHERE state IN ({marks}) AND ended < ? ORDER BY seq",
                (*FINAL_STATES, moment),
            ).fetchall()
        return [row["id"] for row in rows]

    def ended_oldest_first(self) -> list[str]:
        return self.ended_before("9999")

    def statistics(self) -> dict[str, int]:
        """Tasks per state (for ``/api/health`` and debugging)."""
        with self._connect() as db:
            rows = db.execute("SELECT state, COUNT(*) AS n FROM tasks GROUP BY state").fetchall()
        return {row["state"]: row["n"] for row in rows}


def _where(filters: dict[str, str]) -> tuple[list[str], list[Any]]:
    where, args = [], []
    for key, value in filters.items():
        if key not in FILTERS:
            raise ValueError(f"unknown filter {key!r}; expected one of {FILTERS}")
        where.append(f"{key} = ?")
        args.append(value)
    return where, args


def _task(row: sqlite3.Row) -> Task:
    return Task(
        id=row["id"],
        kind=row["kind"],
        plan=row["plan"],
        target=row["target"],
        submitter=row["submitter"],
        metadata=Metadata(
            repo=row["repo"],
            branch=row["branch"],
            commit=row["commit_"],
            labels=json.loads(row["labels"]),
        ),
        state=row["state"],
        outcome=row["outcome"],
        error=row["error"],
        exit_code=row["exit_code"],
        created=row["created"],
        started=row["started"],
        ended=row["ended"],
        run_id=row["run_id"],
        request=TaskRequest.model_validate_json(row["request"]),
    )
