"""A connection's refusals are logged the first few times, then summarised."""

from __future__ import annotations

import logging

import pytest

from choreograph.sync_service.refusal_log import (
    LOGGED_EACH,
    SUMMARY_INTERVAL_S,
    RefusalLog,
    refusal_kind,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.WARNING, logger="choreograph.sync_service")
    return caplog


def test_the_first_refusals_are_logged_each_then_one_summary_per_interval(log):
    clock = Clock()
    refusals = RefusalLog("peer:1", clock)
    for i in range(LOGGED_EACH):
        refusals.record(str(i), f"barrier.target: expected int, found str ({i})")
    assert len(log.records) == LOGGED_EACH
    assert "further refusals on this connection are summarised" in log.records[-1].getMessage()

    for i in range(1000):
        refusals.record(str(i), "frame is not JSON: Expecting value: line 1 column 1")
    assert len(log.records) == LOGGED_EACH  # counted, not logged

    clock.now += SUMMARY_INTERVAL_S
    refusals.record("x", "barrier.target: expected int, found str")
    assert len(log.records) == LOGGED_EACH + 1
    summary = log.records[-1].getMessage()
    assert "peer:1: 1,001 more requests refused in the last 10 s" in summary
    assert "frame is not JSON (1,000), barrier.target (1)" in summary

    refusals.record("y", "request needs a non-empty string 'id'")
    refusals.close()
    assert len(log.records) == LOGGED_EACH + 2
    assert "1 more requests refused before it closed" in log.records[-1].getMessage()


def test_a_connection_with_few_refusals_logs_no_summary(log):
    refusals = RefusalLog("peer:2")
    refusals.record(None, "frame is not JSON")
    refusals.close()
    assert [r.getMessage() for r in log.records] == [
        "connection peer:2: request (no id) refused: frame is not JSON"
    ]


def test_kinds_drop_particulars():
    assert refusal_kind("barrier.target: expected int, found str") == "barrier.target"
    assert refusal_kind("frame of 15000049 bytes exceeds the 4194304 byte limit") == (
        "frame of N bytes exceeds the N byte limit"
    )
