"""Testground's rule: a foreign SDK's success counts only once published on ``run_events``
(its runners subscribe to that topic and count nothing else). sdk-go's plain ``TestCaseFn``
has no sync client, so its success reaches stdout only: Testground's ``_integrations``
case ``issue-1349-silent-failure`` fails."""

from __future__ import annotations

from choreograph.plan.facts import InstanceEvent, InstanceExited
from choreograph.results.outcomes import OutcomeBook
from choreograph.wire.events import Event


def _book() -> OutcomeBook:
    return OutcomeBook.for_groups({"a": 2}, published_only=True)


def test_a_stdout_only_success_is_a_failure_at_exit() -> None:
    book = _book()
    assert book.apply(InstanceEvent("a/0", Event("success", group="a"), "stdout")) is None
    assert not book.instances["a/0"].final
    out = book.apply(InstanceExited("a/0", 0, "", 1.0))
    assert out is not None and out.status == "failure" and "run_events" in out.error
    assert not book.success and book.groups()[0].failed == 1


def test_the_run_events_twin_confirms_a_stdout_success_later() -> None:
    book = _book()
    book.apply(InstanceEvent("a/0", Event("success", group="a"), "stdout"))
    out = book.apply(InstanceEvent("", Event("success", group="a"), "sync"))
    assert out is not None and (out.key, out.status) == ("a/0", "success")
    assert book.apply(InstanceExited("a/0", 0, "", 1.0)) is None
    assert book.instances["a/0"].status == "success"


def test_the_run_events_twin_first_decides_at_once() -> None:
    book = _book()
    assert book.apply(InstanceEvent("", Event("success", group="a"), "sync")) is None
    out = book.apply(InstanceEvent("a/1", Event("success", group="a"), "stdout"))
    assert out is not None and (out.key, out.status) == ("a/1", "success")


def test_a_late_twin_is_not_handed_to_another_instance() -> None:
    book = _book()
    book.apply(InstanceEvent("a/0", Event("success", group="a"), "stdout"))
    book.apply(InstanceExited("a/0", 0, "", 1.0))
    assert book.apply(InstanceEvent("", Event("success", group="a"), "sync")) is None
    out = book.apply(InstanceExited("a/1", 2, "", 2.0))
    assert out is not None and out.status == "crash"


def test_a_stdout_only_failure_needs_no_confirmation() -> None:
    book = _book()
    out = book.apply(InstanceEvent("a/0", Event("failure", group="a", error="x"), "stdout"))
    assert out is not None and out.status == "failure"


def test_choreograph_successes_name_their_instance_and_count_at_once() -> None:
    book = _book()
    event = Event("success", group="a", instance="a/0")
    out = book.apply(InstanceEvent("a/0", event, "stdout"))
    assert out is not None and out.status == "success"
