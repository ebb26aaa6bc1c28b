"""The live status of a large run: per group, time left, and where instances wait."""

from __future__ import annotations

from pathlib import Path

from choreograph import progress
from choreograph.cli.render import LiveProgress
from choreograph.cli.render_status import Tally, clock, plain, status_lines


def test_status_lines_per_group_with_time_and_waits() -> None:
    groups = {"a": Tally(total=3, started=3), "b": Tally(total=2, started=1)}
    groups["a"].ended["success"] = 1
    pulse = progress.RunPulse(72.0, 600.0, (("ready", 4, 5, 3),))
    text = plain(status_lines(groups, pulse))
    lines = text.splitlines()
    assert lines[0].startswith("running 3  started 4/5  ok 1")
    assert lines[1].split()[:2] == ["a", "running"] and "started 3/3" in lines[1]
    assert lines[2].split()[:2] == ["b", "running"] and "started 1/2" in lines[2]
    assert "elapsed 1m12s, timeout in 8m48s" in lines[3]
    assert lines[4].strip() == "waiting on 'ready': 4/5 arrived, 3 waiting"


def test_one_group_has_no_group_lines_and_many_groups_are_summed() -> None:
    assert len(status_lines({"g": Tally(total=1)}, None)) == 1
    many = {f"g{n}": Tally(total=1, started=1) for n in range(20)}
    lines = plain(status_lines(many, None)).splitlines()
    assert len(lines) == 1 + 8
    assert "(13 more)" in lines[-1] and "started 13/13" in lines[-1]


def test_clock() -> None:
    assert [clock(s) for s in (0.4, 59.9, 72, 3725)] == ["0s", "59s", "1m12s", "1h02m05s"]


def test_piped_progress_prints_the_status_every_30_seconds(capsys) -> None:  # type: ignore[no-untyped-def]
    sink = LiveProgress()
    sink(progress.RunStarted("r", Path("/r"), "p", "c", "local:exec", {"g": 2}))
    sink(progress.InstanceStarted("g/0"))
    sink(progress.InstanceStarted("g/1"))
    for second in range(1, 62):
        sink(progress.RunPulse(float(second), 600.0, (("ready", 2, 3, 2),)))
    out = capsys.readouterr().out
    assert out.count("waiting on 'ready': 2/3 arrived, 2 waiting") == 2  # at 30 s and 60 s
    assert "elapsed 30s" in out and "elapsed 1m00s" in out
