"""Containment against real processes: an instance's descendants, even in sessions of their
own, are found, frozen, measured and killed with it; with cgroups and with the fallback."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import pytest
from tests.processes import alive

from choreograph.runners import cgroups
from choreograph.runners.containment import RunContainment
from choreograph.runners.forkserver import ForkServer
from choreograph.runners.resources import RESOURCES_FILE, ResourceSampler
from choreograph.runners.supervise import Launch, Supervisor

# Leaves a child in its own session and a busy grandchild, prints their pids, then waits.
PLAN = """
import subprocess, sys, time
detached = subprocess.Popen(["sleep", "600"], start_new_session=True)
busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
print(detached.pid, busy.pid, flush=True)
time.sleep(600)
"""

ROOT = os.geteuid() == 0
needs_cgroups = pytest.mark.skipif(
    not ROOT or cgroups.choose_layout(cgroups.discover())[0] is None,
    reason="needs root on a host with cgroup v2 or a v1 freezer hierarchy",
)


async def _children(out: Path) -> list[int]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if out.exists() and len(out.read_text().split()) == 2:
            return [int(p) for p in out.read_text().split()]
        await asyncio.sleep(0.05)
    raise AssertionError("the instance did not start its children")


async def _run_one(tmp_path: Path, containment: RunContainment, fork: bool) -> None:
    script = tmp_path / "plan.py"
    script.write_text(PLAN)
    stop = asyncio.Event()
    supervisor = Supervisor(lambda fact: None, containment=containment)
    async with ForkServer() as server:
        launch = Launch(
            "g/0",
            (sys.executable, str(script)),
            dict(os.environ),
            str(tmp_path),
            tmp_path / "out",
            server if fork else None,
        )
        running = asyncio.create_task(supervisor.run_all([launch], stop, grace_s=0.5))
        pids = await _children(tmp_path / "out" / "run.out")
        instances = supervisor.running_instances()
        cage = instances["g/0"].cage
        assert cage is not None
        assert set(pids) <= set(cage.pids()), "the cage does not hold the instance's children"
        if containment.layout is not None:
            await _check_freeze_and_counters(cage, pids, instances, tmp_path)
        stop.set()
        await asyncio.wait_for(running, 20)
    deadline = time.monotonic() + 5
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not any(alive(p) for p in pids), "a descendant outlived its instance"


async def _check_freeze_and_counters(cage, pids, instances, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert cage.cell is not None
    sampler = ResourceSampler("r", 1.0, lambda key: tmp_path / "samples")
    await asyncio.sleep(0.5)
    sampler.sample_once(instances)
    cage.freeze(True)
    before = cage.cell.cpu_seconds()
    await asyncio.sleep(0.3)
    assert cage.cell.cpu_seconds() == before, "a frozen instance kept using CPU"
    cage.freeze(False)
    await asyncio.sleep(0.5)
    sampler.sample_once(instances)
    assert cage.cell.cpu_seconds() > before, "a thawed instance did not run again"
    lines = (tmp_path / "samples" / RESOURCES_FILE).read_text().splitlines()
    assert len(lines) == 4
    assert '"rss_bytes"' in lines[-1]


@needs_cgroups
@pytest.mark.root
async def test_cgroup_cage_holds_kills_freezes_and_measures(tmp_path: Path) -> None:
    with RunContainment("test-containment-cg") as containment:
        assert containment.kind.startswith("cgroup")
        await _run_one(tmp_path, containment, fork=False)
    assert not any(d.exists() for d in containment.run_dirs()), "run cgroups left behind"


@needs_cgroups
@pytest.mark.root
async def test_cgroup_cage_holds_forked_instances(tmp_path: Path) -> None:
    with RunContainment("test-containment-fork") as containment:
        await _run_one(tmp_path, containment, fork=True)


async def test_fallback_without_cgroups_still_kills_detached_children(tmp_path: Path) -> None:
    with RunContainment("test-containment-pg", use_cgroups=False) as containment:
        assert containment.kind == "process-group"
        await _run_one(tmp_path, containment, fork=False)


async def test_an_instance_ending_takes_its_detached_children_and_closes_its_output(
    tmp_path: Path,
) -> None:
    """The instance exits at once, its detached child keeps the pipes open: the supervisor
    must not wait for that child (the bug: the run waited ~600 s)."""
    script = tmp_path / "plan.py"
    script.write_text(
        "import subprocess\n"
        "child = subprocess.Popen(['sleep', '600'], start_new_session=True)\n"
        "print(child.pid, flush=True)\n"
    )
    with RunContainment("test-containment-exit") as containment:
        supervisor = Supervisor(lambda fact: None, containment=containment)
        code = await asyncio.wait_for(
            supervisor.run_instance(
                "g/0", (sys.executable, str(script)), dict(os.environ), str(tmp_path),
                tmp_path / "out",
            ),
            30,
        )  # fmt: skip
    assert code == 0
    child = int((tmp_path / "out" / "run.out").read_text().split()[0])
    deadline = time.monotonic() + 5
    while alive(child) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not alive(child)
