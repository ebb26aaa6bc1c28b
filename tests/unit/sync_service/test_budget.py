"""The history budget: every stored byte is charged, a publish past the budget is refused."""

from __future__ import annotations

import sys

import pytest

from choreograph.errors import SyncError
from choreograph.sync_service.budget import HistoryBudget, format_bytes
from choreograph.sync_service.topics import ENTRY_OVERHEAD_BYTES, Topic, Topics, entry_bytes


def test_an_entry_is_charged_what_it_holds():
    topic = Topic("t")
    topic.publish("x" * 1000)
    entry = topic._log[0]
    # One string (the quoted text) plus the entry object and its list slot: no second copy.
    assert entry_bytes(entry.quoted) == sys.getsizeof(entry.quoted) + ENTRY_OVERHEAD_BYTES
    assert topic._budget.used == entry_bytes(entry.quoted)
    assert entry.__slots__ == ("origin", "quoted")


def test_a_publish_past_the_budget_is_refused_and_leaves_nothing():
    budget = HistoryBudget(total=3000, hint="raise it here")
    topics = Topics(budget)
    topics.get("a").publish("x" * 1000)
    topics.get("b").publish("x" * 1000)
    used = budget.used
    with pytest.raises(SyncError) as refused:
        topics.get("a").publish("y" * 1000)
    message = str(refused.value)
    assert "topic 'a'" in message and "raise it here" in message
    assert format_bytes(used) in message and format_bytes(3000) in message
    assert len(topics.get("a")) == 1 and budget.used == used
    # Smaller payloads still fit; the refusal is remembered for the run's warning.
    assert topics.get("c").publish(1) == 1
    assert budget.refused == 1
    line = budget.describe_refusals()
    assert line is not None and "1 publish(es)" in line and "'a'" in line


def test_no_refusal_no_line_and_topics_listed_once():
    budget = HistoryBudget(total=0)
    assert budget.describe_refusals() is None
    for topic in ["a", "a", "b", "c", "d", "e", "f", "g"]:
        with pytest.raises(SyncError):
            budget.charge(topic, 10)
    line = budget.describe_refusals()
    assert line is not None
    assert "8 publish(es) (80 B)" in line
    assert "'a', 'b', 'c', 'd', 'e', …" in line


def test_closing_the_registry_drops_every_entry_and_frees_the_budget():
    topics = Topics(HistoryBudget(total=10_000))
    topics.get("a").publish("x" * 1000)
    kept = topics.get("a")
    topics.close()
    assert topics.budget.used == 0
    assert len(kept) == 0  # emptied in place: a cursor holding the log keeps nothing alive
    assert topics.statistics() == {"topics": 0, "messages": 0, "subscriptions": 0}


def test_budget_must_not_be_negative():
    with pytest.raises(ValueError, match=">= 0"):
        HistoryBudget(total=-1)


@pytest.mark.parametrize(
    ("n", "shown"), [(10, "10 B"), (2048, "2.0 KiB"), (5 * 1024 * 1024, "5.0 MiB")]
)
def test_sizes_are_shown_in_readable_units(n, shown):
    assert format_bytes(n) == shown
