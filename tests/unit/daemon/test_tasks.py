"""The task store: FIFO taking, filters, pagination, ending, and indexed listing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from choreograph.daemon.schemas import Metadata, TaskRequest
from choreograph.daemon.tasks import TaskStore


def _add(store: TaskStore, task_id: str, plan: str = "p", branch: str = "") -> None:
    request = TaskRequest(case="c", metadata=Metadata(branch=branch))
    store.add(task_id, request, plan, "c", "local")


@pytest.fixture
def store(tmp_path: Path) -> TaskStore:
    return TaskStore(tmp_path / "tasks.sqlite")


def test_wal_and_round_trip(store: TaskStore) -> None:
    _add(store, "t1", branch="main")
    task = store.get("t1")
    assert task is not None and task.state == "scheduled" and task.metadata.branch == "main"
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.get("nope") is None


def test_next_scheduled_is_fifo_and_takes_once(store: TaskStore) -> None:
    for n in range(3):
        _add(store, f"t{n}")
    taken = [store.next_scheduled() for _ in range(4)]
    assert [t.id if t else None for t in taken] == ["t0", "t1", "t2", None]
    assert all(t.state == "processing" for t in taken if t)


def test_filters_and_pages_newest_first(store: TaskStore) -> None:
    for n in range(10):
        _add(store, f"t{n}", plan="a" if n % 2 else "b", branch="main")
    first = store.page({"plan": "a"}, limit=3)
    assert [t.id for t in first] == ["t9", "t7", "t5"]
    second = store.page({"plan": "a"}, limit=3, before=first[-1].id)
    assert [t.id for t in second] == ["t3", "t1"]
    assert len(store.page({"branch": "main", "state": "scheduled"}, limit=100)) == 10
    with pytest.raises(ValueError):
        store.page({"request": "x"})


def test_finish_only_from_the_states_given(store: TaskStore) -> None:
    _add(store, "t1")
    assert store.finish("t1", "canceled", "canceled", 1, "why", ("scheduled",))
    assert not store.finish("t1", "complete", "success", 0)  # already ended
    task = store.get("t1")
    assert task is not None and (task.state, task.error, task.exit_code) == ("canceled", "why", 1)


def test_interrupted_cancels_processing_only(store: TaskStore) -> None:
    _add(store, "t1")
    _add(store, "t2")
    store.next_scheduled()
    assert store.interrupted("daemon restart") == ["t1"]
    t1, t2 = store.get("t1"), store.get("t2")
    assert t1 is not None and t1.state == "canceled" and t1.error == "daemon restart"
    assert t2 is not None and t2.state == "scheduled"


def test_every_listing_uses_an_index(store: TaskStore) -> None:
    """A page of 10,000 tasks is one index range scan per filter, never a table sort."""
    for key in ("state", "plan", "branch", "submitter"):
        sql = f"SELECT * FROM tasks WHERE {key} = ? ORDER BY seq DESC LIMIT 50"
        with sqlite3.connect(store.path) as db:
            plan = " ".join(row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql, ("x",)))
        assert "USING INDEX" in plan and "TEMP B-TREE" not in plan, (key, plan)


def test_run_ids_accumulate(store: TaskStore) -> None:
    _add(store, "t1")
    store.set_run("t1", "r1")
    store.set_run("t1", "r2")
    task = store.get("t1")
    assert task is not None and task.run_id == "r2"
    assert store.run_ids("t1") == ["r1", "r2"]
