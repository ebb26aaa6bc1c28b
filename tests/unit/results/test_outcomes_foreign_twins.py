"""A foreign SDK's event arrives twice (stdout and run_events, no instance on the latter):
the two copies cancel out whichever comes first, so a copy is never handed to another
instance of the group that exited without reporting."""

from __future__ import annotations

from choreograph.plan.facts import InstanceEvent, InstanceExited
from choreograph.results.outcomes import OutcomeBook
from choreograph.wire.events import Event


def _book() -> OutcomeBook:
    return OutcomeBook.for_groups({"a": 2})


def test_a_run_events_copy_after_its_stdout_copy_is_not_given_to_a_silent_crash() -> None:
    book = _book()
    book.apply(InstanceEvent("a/0", Event("success", group="a"), "stdout"))
    book.apply(InstanceEvent("", Event("success", group="a"), "sync"))
    out = book.apply(InstanceExited("a/1", 1, "Error: boom", 1.0))
    assert out is not None and (out.status, out.channel) == ("crash", "exit")
    assert not book.unattributed.get("a") and not book.owed.get("a")


def test_events_after_the_deciding_one_are_matched_too() -> None:
    # sdk-js records success after a case that recorded a failure and returned.
    book = _book()
    for event in (Event("failure", group="a", error="bad"), Event("success", group="a")):
        book.apply(InstanceEvent("a/0", event, "stdout"))
    for event in (Event("failure", group="a", error="bad"), Event("success", group="a")):
        book.apply(InstanceEvent("", event, "sync"))
    assert book.instances["a/0"].status == "failure"
    out = book.apply(InstanceExited("a/1", 1, "", 1.0))
    assert out is not None and out.status == "crash"


def test_choreograph_events_name_their_instance_and_owe_nothing() -> None:
    book = _book()
    book.apply(InstanceEvent("a/0", Event("success", group="a", instance="a/0"), "stdout"))
    assert book.owed == {}
    # A lost stdout is still made up for by a pooled run_events copy.
    book.apply(InstanceEvent("", Event("failure", group="a", error="late"), "sync"))
    out = book.apply(InstanceExited("a/1", 0, "", 1.0))
    assert out is not None and (out.status, out.error) == ("failure", "late")
