"""Outcome events are accepted only from the instance they speak for, where the runner can
tell instances apart by address (hardening item 10)."""

from __future__ import annotations

from choreograph.run_events import RunEventsFollower
from choreograph.sync_service import SyncService
from choreograph.wire.events import Event

ORIGINS = {"a/0": "10.1.0.2", "a/1": "10.1.0.3", "b/0": "10.1.0.4"}


def _follower(origins: dict[str, str]) -> RunEventsFollower:
    return RunEventsFollower(SyncService(), "t", origins)


def test_an_instance_may_speak_for_itself_only() -> None:
    f = _follower(ORIGINS)
    own = Event(kind="success", group="a", instance="a/0")
    assert f.forged(own, "10.1.0.2") == ""
    assert "published by a/1" in f.forged(own, "10.1.0.3")


def test_group_only_events_come_from_that_group() -> None:
    f = _follower(ORIGINS)
    foreign = Event(kind="failure", group="a")
    assert f.forged(foreign, "10.1.0.3") == ""
    assert "of another group" in f.forged(foreign, "10.1.0.4")


def test_outsiders_and_in_process_publishers() -> None:
    f = _follower(ORIGINS)
    event = Event(kind="success", group="a", instance="a/0")
    assert "no instance of this run" in f.forged(event, "10.1.0.1")
    assert f.forged(event, None) == ""  # the engine itself, in-process


def test_without_origins_everything_counts() -> None:
    event = Event(kind="success", group="a", instance="a/0")
    assert _follower({}).forged(event, "127.0.0.1") == ""
