"""runenv.R()/D(): what each recorder writes, buffering, flushing at exit and on crash."""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from choreograph.sdk import RunEnv, _metrics


def make_runenv(outputs: Path) -> RunEnv:
    return RunEnv.from_env(
        {
            "TEST_PLAN": "p",
            "TEST_CASE": "c",
            "TEST_RUN": "run-7",
            "TEST_INSTANCE_COUNT": "4",
            "TEST_GROUP_ID": "clients",
            "CHOREO_GROUP_INDEX": "2",
            "TEST_OUTPUTS_PATH": str(outputs),
        }
    )


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_recorder_writes_attributed_lines(tmp_path: Path) -> None:
    runenv = make_runenv(tmp_path)
    r = runenv.R()
    before = time.time_ns()
    r.point("throughput", 12.5, unit="ops/s")
    hits = r.counter("hits")
    hits.inc()
    hits.inc(4)
    r.gauge("peers").set(3)
    r.histogram("size", unit="B").observe(512)
    r.flush()
    records = lines(tmp_path / "results.out")
    assert [(x["name"], x["type"], x["unit"], x["value"]) for x in records] == [
        ("throughput", "point", "ops/s", 12.5),
        ("hits", "counter", "", 1),
        ("hits", "counter", "", 5),
        ("peers", "gauge", "", 3),
        ("size", "histogram", "B", 512),
    ]
    for record in records:
        assert (record["run"], record["group"], record["instance"]) == (
            "run-7",
            "clients",
            "clients/2",
        )
        assert before <= record["ts"] <= time.time_ns()
    assert not (tmp_path / "diagnostics.out").exists()


def test_diagnostics_go_to_their_own_file(tmp_path: Path) -> None:
    runenv = make_runenv(tmp_path)
    runenv.D().gauge("queue").set(7)
    runenv.D().flush()
    assert [x["name"] for x in lines(tmp_path / "diagnostics.out")] == ["queue"]
    assert not (tmp_path / "results.out").exists()


def test_timer_as_context_managers_and_decorators(tmp_path: Path) -> None:
    runenv = make_runenv(tmp_path)
    timer = runenv.R().timer("op", unit="ms")

    with timer.time():
        time.sleep(0.02)
    with timer:
        time.sleep(0.01)

    @timer
    def work(x: int) -> int:
        time.sleep(0.01)
        return x * 2

    @timer
    async def awork() -> str:
        await asyncio.sleep(0.01)
        return "done"

    assert work(21) == 42
    assert asyncio.run(awork()) == "done"
    timer.observe(1.5)
    runenv.R().flush()
    values = [x["value"] for x in lines(tmp_path / "results.out")]
    assert len(values) == 5
    assert 20 <= values[0] < 500 and 10 <= values[1] < 500
    assert all(10 <= v < 500 for v in values[2:4])
    assert values[4] == 1.5
    assert {x["unit"] for x in lines(tmp_path / "results.out")} == {"ms"}


def test_recorders_are_kept_by_name_and_kinds_do_not_mix(tmp_path: Path) -> None:
    r = make_runenv(tmp_path).R()
    assert r.counter("x") is r.counter("x")
    with pytest.raises(ValueError, match="'x' is a counter, not a gauge"):
        r.gauge("x")
    with pytest.raises(ValueError, match="timer unit 'h'"):
        r.timer("t", unit="h")


def test_non_finite_values_are_written_as_null(tmp_path: Path) -> None:
    r = make_runenv(tmp_path).R()
    r.point("a", math.nan)
    r.point("b", math.inf)
    r.point("c", 2)
    r.flush()
    assert [x["value"] for x in lines(tmp_path / "results.out")] == [None, None, 2]


def test_records_stay_buffered_until_the_threshold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_metrics, "FLUSH_RECORDS", 100)
    h = make_runenv(tmp_path).R().histogram("h")
    for n in range(99):
        h.observe(n)
    assert not (tmp_path / "results.out").exists()
    h.observe(99)
    assert len(lines(tmp_path / "results.out")) == 100


def test_threads_lose_no_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_metrics, "FLUSH_RECORDS", 64)  # many flushes race the appends
    h = make_runenv(tmp_path).R().histogram("h")

    def record(base: int) -> None:
        for n in range(5000):
            h.observe(base + n)

    threads = [threading.Thread(target=record, args=(k * 10_000,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _metrics.flush_all()
    values = sorted(x["value"] for x in lines(tmp_path / "results.out"))
    assert values == sorted(k * 10_000 + n for k in range(4) for n in range(5000))


@pytest.mark.parametrize("ending", ["raise RuntimeError('boom')", "sys.exit(3)", "pass"])
def test_buffered_records_are_written_when_the_process_ends(tmp_path: Path, ending: str) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        from choreograph.sdk import RunEnv
        runenv = RunEnv.from_env({{"TEST_PLAN": "p", "TEST_CASE": "c", "TEST_RUN": "r",
            "TEST_INSTANCE_COUNT": "1", "TEST_OUTPUTS_PATH": sys.argv[1]}})
        h = runenv.R().histogram("h")
        for n in range(1000):
            h.observe(n)
        {ending}
        """
    )
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True)
    assert len(lines(tmp_path / "results.out")) == 1000
