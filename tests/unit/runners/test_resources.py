"""The resource sampler against real processes: whole trees, CPU %, RSS, the interval."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from choreograph.errors import InputError
from choreograph.runners.resources import ResourceSampler, sample_interval

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
