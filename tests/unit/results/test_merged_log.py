"""Merged log: ordering across instances, and the out-of-sequence checks."""

from __future__ import annotations

import json
from pathlib import Path

from choreograph.results.merged_log import (
    LogFollower,
    check_instance,
    merge,
    parse_lines,
    read_instance,
)


def event(seq: int, ts: int, message: str, instance: str = "g/0") -> str:
    body = {"message_event": {"message": message}}
    return json.dumps({"ts": ts, "seq": seq, "instance": instance, "event": body})


def checked(instance: str, lines: list[str]) -> list:  # type: ignore[type-arg]
    return check_instance(parse_lines(instance, lines))


def test_a_clean_log_has_no_flags() -> None:
    lines = checked("g/0", [event(1, 100, "a"), "plain print", event(2, 200, "b")])
    assert [line.flags for line in lines] == [(), (), ()]
    assert [line.sort_ts for line in lines] == [100, 100, 200]  # the print stays after 'a'


def test_gap_reversal_and_time_going_back_are_flagged() -> None:
    lines = checked(
        "g/0",
        [
            event(1, 100, "one"),
            event(2, 200, "two"),
            event(5, 300, "gap"),
            event(3, 400, "reversal"),
            event(6, 350, "back in time"),
            event(7, 500, "fine again"),
        ],
    )
    flags = {line.event.message: line.flags for line in lines if line.event}
    assert flags["one"] == flags["two"] == flags["fine again"] == ()
    assert flags["gap"] == ("gap: expected seq 3, got 5",)
    assert flags["reversal"] == ("reversal: seq 3 after 5",)
    assert flags["back in time"] == ("time went back 0.000 ms from the previous event",)


def test_merge_orders_instances_by_time() -> None:
    a = checked("a/0", [event(1, 100, "a1", "a/0"), event(2, 400, "a2", "a/0")])
    b = checked("b/0", [event(1, 200, "b1", "b/0"), "b print", event(2, 300, "b2", "b/0")])
    order = [line.event.message if line.event else line.text for line in merge([a, b])]
    assert order == ["a1", "b1", "b print", "b2", "a2"]


def test_follower_reads_only_complete_new_lines(tmp_path: Path) -> None:
    path = tmp_path / "run.out"
    follower = LogFollower({"g/0": path})
    assert follower.poll() == []  # not there yet
    path.write_text(event(1, 100, "first") + "\n" + event(2, 200, "sec")[:20])
    assert [line.event.message for line in follower.poll() if line.event] == ["first"]
    with path.open("a") as out:
        out.write(event(2, 200, "second")[20:] + "\n" + event(4, 300, "skipped one") + "\n")
    new = follower.poll()
    assert [line.number for line in new] == [2, 3]
    assert new[1].flags == ("gap: expected seq 3, got 4",)
    assert read_instance("g/0", path)[2].flags == new[1].flags


def go_event(ts: int, message: str) -> str:
    """A Testground-style line as sdk-go writes it (no seq)."""
    return json.dumps({"ts": ts, "event": {"message_event": {"message": message}}})


def test_a_plan_logging_itself_and_teed_shows_each_event_once(tmp_path: Path) -> None:
    # sdk-go writes run.out itself and the runner tees its stdout into the same file.
    lines = [go_event(100, "a"), go_event(100, "a"), "plain", go_event(200, "b")]
    lines += [go_event(200, "b"), "plain"]
    path = tmp_path / "run.out"
    path.write_text("\n".join(lines) + "\n")
    read = read_instance("g/0", path)
    assert [line.text for line in read] == [lines[0], "plain", lines[3], "plain"]
    assert not any(line.out_of_sequence for line in read)
    follower = LogFollower({"g/0": path})
    assert [line.text for line in follower.poll()] == [lines[0], "plain", lines[3], "plain"]


def test_a_seq_stamped_copy_is_dropped_and_not_flagged_as_a_reversal() -> None:
    lines = checked("g/0", [event(1, 100, "a"), event(1, 100, "a"), event(2, 200, "b")])
    assert [line.event.seq for line in lines if line.event] == [1, 2]
    assert [line.flags for line in lines] == [(), ()]


def test_two_events_with_the_same_text_at_different_times_are_both_kept() -> None:
    lines = checked("g/0", [go_event(100, "tick"), go_event(200, "tick")])
    assert len(lines) == 2
