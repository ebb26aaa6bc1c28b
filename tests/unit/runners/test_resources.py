"""The resource sampler against real processes and cgroup-like folders: whole trees, CPU %,
RSS, nothing recorded for what is gone, and due times that do not drift."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from choreograph.errors import InputError
from choreograph.runners.resource_readers import FdBudget, read_stat
from choreograph.runners.resources import ResourceSampler, sample_interval
from choreograph.runners.supervise import Running

from .conftest import FakeCell

# A parent that only sleeps, and its child that burns one core: the tree uses ~100% CPU.
TREE = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c",
    "import time\\nend = time.time() + 30\\nwhile time.time() < end: pass"])
print(child.pid, flush=True)
time.sleep(30)
"""


@pytest.fixture
def busy_tree() -> Iterator[subprocess.Popen[str]]:
    parent = subprocess.Popen(
        [sys.executable, "-c", TREE], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    assert parent.stdout is not None
    parent.child_pid = int(parent.stdout.readline())  # type: ignore[attr-defined]
    yield parent
    import os
    import signal

    os.killpg(parent.pid, signal.SIGKILL)
    parent.wait()


@pytest.fixture
def idle() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    yield proc
    proc.kill()
    proc.wait()


def records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_samples_cover_the_whole_process_tree(
    tmp_path: Path, busy_tree: subprocess.Popen[str], idle: subprocess.Popen[bytes]
) -> None:
    sampler = ResourceSampler("run-1", 1.0, lambda key: tmp_path / key)
    pids = {"busy/0": busy_tree.pid, "idle/0": idle.pid}
    tree = [psutil.Process(busy_tree.pid), psutil.Process(busy_tree.child_pid)]  # type: ignore[attr-defined]

    def tree_cpu() -> float:
        return sum(p.cpu_times().user + p.cpu_times().system for p in tree)

    sampler.sample_once(pids)
    cpu_before, t_before = tree_cpu(), time.monotonic()
    time.sleep(1.0)
    sampler.sample_once(pids)
    expected = 100 * (tree_cpu() - cpu_before) / (time.monotonic() - t_before)
    busy = records(tmp_path / "busy/0/resources.out")
    calm = records(tmp_path / "idle/0/resources.out")
    assert [r["name"] for r in busy] == ["cpu_percent", "rss_bytes"] * 2
    assert busy[0]["instance"] == "busy/0" and busy[0]["group"] == "busy"
    assert busy[0]["run"] == "run-1" and busy[0]["unit"] == "%"
    cpu_busy = float(busy[2]["value"])  # type: ignore[arg-type]
    cpu_idle = float(calm[2]["value"])  # type: ignore[arg-type]
    # The child's CPU counts: what psutil says the whole tree used over the same second.
    assert cpu_busy > 20 and abs(cpu_busy - expected) < 15, (cpu_busy, expected)
    assert cpu_idle < 10, cpu_idle
    rss_busy = float(busy[3]["value"])  # type: ignore[arg-type]
    rss_idle = float(calm[3]["value"])  # type: ignore[arg-type]
    assert rss_busy > rss_idle > 1_000_000  # two interpreters weigh more than one


def test_an_instance_that_is_gone_is_skipped(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    sampler = ResourceSampler("run-1", 1.0, lambda key: tmp_path / key)
    sampler.sample_once({"g/0": proc.pid})
    assert not (tmp_path / "g/0/resources.out").exists()


@pytest.mark.parametrize(
    ("config", "seconds"),
    [({}, 1.0), ({"sample_interval": 0}, 0.0), ({"sample_interval": "250ms"}, 0.25),
     ({"sample_interval": 2}, 2.0)],
)  # fmt: skip
def test_interval_from_run_config(config: dict[str, object], seconds: float) -> None:
    assert sample_interval(config) == seconds


@pytest.mark.parametrize("bad", [-1, "soon", True, [1]])
def test_bad_interval_is_an_input_error(bad: object) -> None:
    with pytest.raises(InputError, match="sample_interval"):
        sample_interval({"sample_interval": bad})


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_tree_that_is_gone_is_never_recorded_as_zero_memory(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        wait_until(lambda: (s := read_stat(proc.pid)) is not None and s.rss > 0)
        sampler = ResourceSampler("run-1", 1.0, lambda key: tmp_path / key)
        sampler.sample_once({"g/0": proc.pid})
        proc.kill()
        # A zombie until reaped: still listed, its memory 0. Then gone altogether.
        wait_until(lambda: (s := read_stat(proc.pid)) is not None and not s.alive)
        sampler.sample_once({"g/0": proc.pid})
        proc.wait()
        sampler.sample_once({"g/0": proc.pid})
    finally:
        proc.kill()
        proc.wait()
    rss = [r["value"] for r in records(tmp_path / "g/0/resources.out") if r["name"] == "rss_bytes"]
    assert len(rss) == 1 and rss[0] > 1_000_000, rss


@pytest.fixture
def sleeper() -> Iterator[int]:
    proc = subprocess.Popen(["sleep", "30"])
    wait_until(lambda: read_stat(proc.pid) is not None)
    yield proc.pid
    proc.kill()
    proc.wait()


def test_an_instance_with_a_cgroup_is_read_from_its_counters(
    tmp_path: Path, sleeper: int, fake_cell: FakeCell
) -> None:
    fake_cell.write(2_000_000_000, rss=41943040, mapped=4096)
    cell = fake_cell.cell
    out = tmp_path / "out"
    # No files kept open, so that removing the folders is seen as it is on cgroupfs.
    sampler = ResourceSampler("run-1", 1.0, lambda key: out / key, fd_budget=FdBudget(0))
    running = {"g/0": Running(sleeper, None, cell)}
    sampler.sample_once(running)
    fake_cell.write(2_500_000_000, rss=50331648)
    time.sleep(0.2)
    sampler.sample_once(running)
    # Every process has exited, the cgroup is still there: its counters say 0.
    fake_cell.write(2_600_000_000, rss=0)
    sampler.sample_once(running)
    for d in cell.dirs:  # the supervisor removes the cgroup: the series is over
        shutil.rmtree(d)
    sampler.sample_once(running)
    for d in cell.dirs:
        d.mkdir()
    fake_cell.write(9_000_000_000, rss=4096)
    sampler.sample_once(running)
    lines = records(out / "g/0/resources.out")
    assert [r["value"] for r in lines if r["name"] == "rss_bytes"] == [41943040 + 4096, 50331648]
    cpu = [float(r["value"]) for r in lines if r["name"] == "cpu_percent"]  # type: ignore[arg-type]
    assert 50 < cpu[1] <= 250, cpu  # 0.5 s of CPU time in 0.2 s and a little more
    assert sampler.statistics()["gone_skipped"] == 1


class SlowSampler(ResourceSampler):
    """Every turn takes 0.3 s of the fake clock, as reading 2,000 cgroups might."""

    def __init__(self, fake: list[float], served: list[float], **kwargs: Any) -> None:
        super().__init__("run-1", 1.0, lambda key: Path("/nonexistent"), **kwargs)
        self.fake, self.served = fake, served

    def _read(self, slot: int) -> None:
        self.served.append(self.fake[0])
        self.fake[0] += 0.3


async def test_due_times_do_not_drift_however_long_a_turn_takes() -> None:
    now, served = [100.0], []

    def wait(stop: threading.Event, seconds: float) -> bool:
        now[0] += max(0.0, seconds) + 0.002  # every wake-up is a little late
        return len(served) >= 12

    sampler = SlowSampler(now, served, slots=1, clock=lambda: now[0], wait=wait)
    await sampler.run(dict)
    assert len(served) == 12
    for k, at in enumerate(served):
        assert at == pytest.approx(100.0 + k + 0.002, abs=1e-9), served
    assert sampler.statistics()["missed_ticks"] == 0
