"""The run's timeline: spans from events (or resource samples), counts over time, stages."""

from __future__ import annotations

import pandas as pd

from choreograph.results import timeline
from choreograph.results.timeline import Span

S = 1_000_000_000
T0 = 1_800_000_000 * S


def events(rows: list[tuple[str, float | None, str, str]]) -> pd.DataFrame:
    """``(instance, seconds after T0 or None, kind, text)`` as ``RunData.events`` has them."""
    return pd.DataFrame(
        [
            {"group": key.rpartition("/")[0], "instance": key,
             "ts": None if at is None else T0 + int(at * S), "kind": kind, "text": text}
            for key, at, kind, text in rows
        ]
    )  # fmt: skip


def outcomes(statuses: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({"instance": list(statuses), "status": list(statuses.values())})


def resources(rows: list[tuple[str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {"instance": [k for k, _ in rows], "ts": [T0 + int(a * S) for _, a in rows]}
    )


def test_spans_from_start_and_outcome_events_else_what_an_instance_left() -> None:
    stamped = events(
        [
            ("g/10", 1, "start", ""),
            ("g/10", 4, "success", "SUCCESS"),
            ("g/2", 0, "start", ""),
            ("g/2", 3, "failure", "FAILURE: x"),
            ("g/2", 5, "failure", "FAILURE: later, ignored"),
            ("g/3", 2, "message", "hello"),  # a crash: no start, no outcome
            ("g/4", 1, "start", ""),  # still running
            ("g/5", None, "start", ""),  # a foreign SDK: no stamps at all
        ]
    )
    # A foreign SDK's stamp in seconds: not drawn decades before the run.
    in_seconds = pd.DataFrame(
        [{"group": "g", "instance": "g/6", "ts": 1_800_000_000, "kind": "start"}]
    )
    statuses = {"g/2": "failure", "g/3": "crash", "g/4": "running", "g/5": "success",
                "g/6": "success", "g/10": "success"}  # fmt: skip
    samples = [
        resources([("g/3", 6.0), ("g/4", 7.0), ("service:x/0", 1.0)]),  # a service: not drawn
        resources([("g/4", 8.0)]),
    ]
    found = timeline.spans(pd.concat([in_seconds, stamped]), outcomes(statuses), samples, T0)
    assert found == [
        Span("g/2", "g", 0.0, 3.0, "failure"),  # natural order: g/2 before g/10
        Span("g/3", "g", 2.0, 6.0, "crash"),  # placed by its message and last sample
        Span("g/4", "g", 1.0, None, "running"),
        Span("g/10", "g", 1.0, 4.0, "success"),
    ]


def test_counts_over_time_per_group() -> None:
    spans = [
        Span("a/0", "a", 0.0, 2.0, "success"),
        Span("a/1", "a", 1.0, 3.0, "failure"),
        Span("a/2", "a", 1.0, None, "running"),
        Span("b/0", "b", 5.0, 6.0, "crash"),
    ]
    counts = timeline.counts(spans)
    assert list(counts) == ["a", "b"]
    a = counts["a"]
    assert a.x == [0.0, 1.0, 2.0, 3.0]
    assert a.running == [1, 3, 2, 1]
    assert a.ok == [0, 0, 1, 1]
    assert a.failed == [0, 0, 0, 1]
    assert a.instances == 3
    assert (counts["b"].running, counts["b"].failed) == ([1, 0], [0, 1])


def test_stages_reached_per_group() -> None:
    rows = [(f"g/{k}", 1 + k, "stage_end", "stage end setup") for k in range(3)] + [
        ("g/0", 9, "stage_end", "stage end transfer"),
        ("g/0", 0.5, "stage_start", "x"),
    ]
    assert timeline.stages(events(rows), T0) == [
        ("g", "setup", 3, 1.0, 2.0, 3.0),
        ("g", "transfer", 1, 9.0, 9.0, 9.0),
    ]


def test_the_figure_is_bars_or_counts() -> None:
    spans = [Span(f"g/{k}", "g", 0.0, 1.0 + k, "success") for k in range(30)]
    for at_scale in (False, True):
        assert timeline.figure(spans, at_scale).startswith(b"\x89PNG")
