"""memory_merge against a fake ``/sys/kernel/mm/ksm`` and ``/proc/meminfo``: the decision,
the lease that gives the host its settings back, ksmd's pace and the gate on launches."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from choreograph.errors import InputError
from choreograph.plan.facts import Fact, RunnerNote
from choreograph.runners import memory_merge
from choreograph.runners.memory_merge import (
    FAST,
    SETTLE_SCANS,
    SLOW,
    UNMERGED_BYTES,
    KsmLease,
    Merging,
)

GIB = 2**30
WHERE = '[runners."local:exec"]'


class FakeKsm:
    """The files of ``/sys/kernel/mm/ksm`` a lease and a pace read and write."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "ksm"
        self.dir.mkdir()
        self.set(run=0, pages_to_scan=100, sleep_millisecs=20, pages_sharing=0, full_scans=0)

    def set(self, **values: int) -> None:
        for name, value in values.items():
            (self.dir / name).write_text(f"{value}\n")

    def get(self, name: str) -> int:
        return int((self.dir / name).read_text())

    def settings(self) -> dict[str, int]:
        return {name: self.get(name) for name in ("run", "pages_to_scan", "sleep_millisecs")}


def write_meminfo(path: Path, total: int, available: int) -> None:
    path.write_text(
        f"MemTotal:       {total // 1024} kB\nMemFree:        1 kB\n"
        f"MemAvailable:   {available // 1024} kB\nHugePages_Total:       0\n"
    )


def test_the_setting_is_checked() -> None:
    assert memory_merge.merge_mode({}, WHERE) == "auto"
    assert memory_merge.merge_mode({"memory_merge": "off"}, WHERE) == "off"
    with pytest.raises(InputError) as caught:
        memory_merge.merge_mode({"memory_merge": "yes"}, WHERE)
    assert str(caught.value) == (
        f"{WHERE} memory_merge = 'yes': expected one of ('auto', 'on', 'off')"
    )


def test_auto_merges_only_what_would_take_a_quarter_of_the_memory() -> None:
    available = 24 * GIB
    fits = int(0.25 * available / UNMERGED_BYTES)
    assert not memory_merge.wanted("auto", fits, available, None, WHERE)
    assert memory_merge.wanted("auto", fits + 1, available, None, WHERE)
    assert not memory_merge.wanted("auto", 5000, available, "no KSM", WHERE)
    assert not memory_merge.wanted("off", 5000, available, None, WHERE)
    assert not memory_merge.wanted("on", 0, available, None, WHERE)
    assert memory_merge.wanted("on", 1, available, None, WHERE)


def test_on_is_refused_where_ksm_cannot_be_used(tmp_path: Path) -> None:
    problem = memory_merge.unavailable(tmp_path / "nothing")
    assert problem == f"this kernel has no KSM ({tmp_path / 'nothing'} is missing)"
    with pytest.raises(InputError, match=r'memory_merge = "on": this kernel has no KSM'):
        memory_merge.wanted("on", 10, 24 * GIB, problem, WHERE)


def test_meminfo_is_read_in_bytes(tmp_path: Path) -> None:
    write_meminfo(tmp_path / "meminfo", 24 * GIB, 3 * GIB)
    info = memory_merge.meminfo(tmp_path / "meminfo")
    assert info["MemTotal"] == 24 * GIB
    assert info["MemAvailable"] == 3 * GIB
    assert info["HugePages_Total"] == 0


def test_the_host_gets_its_settings_back_after_the_last_lease(tmp_path: Path) -> None:
    ksm, state = FakeKsm(tmp_path), tmp_path / "state"
    host = ksm.settings()
    with KsmLease("run-a", ksm.dir, state) as first:
        assert ksm.settings() == {"run": 1, **FAST}
        assert json.loads((state / "saved.json").read_text()) == host
        with KsmLease("run-b", ksm.dir, state):
            first.pace(fast=False)
            assert ksm.settings() == {"run": 1, **SLOW}
        # run-a still holds its lease: ksmd keeps running
        assert ksm.get("run") == 1
        assert not memory_merge.leftover(state)
    assert ksm.settings() == host
    assert not (state / "saved.json").exists()
    assert sorted(p.name for p in state.iterdir()) == ["lock"]


def test_a_dead_runs_lease_is_found_and_the_settings_put_back(tmp_path: Path) -> None:
    ksm, state = FakeKsm(tmp_path), tmp_path / "state"
    host = ksm.settings()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from pathlib import Path\n"
            "from choreograph.runners.memory_merge import KsmLease\n"
            f"lease = KsmLease('dead', Path({str(ksm.dir)!r}), Path({str(state)!r}))\n"
            "lease.__enter__()\n"
            "print('held', flush=True)\n"
            "time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        assert memory_merge.leftover(state) is False  # alive: not a leftover
    finally:
        holder.kill()
        holder.wait()
    assert ksm.get("run") == 1
    assert memory_merge.leftover(state) is True
    assert memory_merge.restore_leftover(ksm.dir, state) is True
    assert ksm.settings() == host
    assert memory_merge.leftover(state) is False
    assert memory_merge.restore_leftover(ksm.dir, state) is False


def test_a_new_lease_after_a_crash_keeps_the_hosts_first_settings(tmp_path: Path) -> None:
    """The saved settings are the host's, never the pace a dead run left behind."""
    ksm, state = FakeKsm(tmp_path), tmp_path / "state"
    host = ksm.settings()
    lease = KsmLease("crashed", ksm.dir, state).__enter__()
    assert lease._held is not None
    lease._held.close()  # as if its process died: the lock goes with it
    with KsmLease("next", ksm.dir, state):
        assert json.loads((state / "saved.json").read_text()) == host
        assert not (state / "lease-crashed").exists()
    assert ksm.settings() == host


async def until(condition: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


async def enter(merging: Merging) -> None:
    async with merging.admitted():
        pass


async def test_ksmd_is_fast_after_launches_until_it_has_scanned_them(tmp_path: Path) -> None:
    ksm, state = FakeKsm(tmp_path), tmp_path / "state"
    write_meminfo(tmp_path / "meminfo", 24 * GIB, 20 * GIB)
    facts: list[Fact] = []
    with KsmLease("r", ksm.dir, state) as lease:
        merging = Merging(lease, facts.append, ksm.dir, tmp_path / "meminfo", tick=0.005)
        task = asyncio.create_task(merging.run())
        try:
            await asyncio.sleep(0.05)
            assert ksm.settings()["pages_to_scan"] == FAST["pages_to_scan"]
            ksm.set(full_scans=SETTLE_SCANS)
            await until(lambda: ksm.get("pages_to_scan") == SLOW["pages_to_scan"])
            async with merging.admitted():  # an instance starts: its memory is new to ksmd
                pass
            await until(lambda: ksm.get("pages_to_scan") == FAST["pages_to_scan"])
            ksm.set(full_scans=2 * SETTLE_SCANS - 1)
            await asyncio.sleep(0.05)
            assert ksm.get("pages_to_scan") == FAST["pages_to_scan"]
            ksm.set(full_scans=2 * SETTLE_SCANS)
            await until(lambda: ksm.get("pages_to_scan") == SLOW["pages_to_scan"])
            # merging that pays keeps it fast: 10 MB/s and more
            ksm.set(pages_sharing=10**6)
            await until(lambda: ksm.get("pages_to_scan") == FAST["pages_to_scan"])
        finally:
            task.cancel()
    assert facts == []  # memory was never short


async def test_launches_wait_while_memory_is_short_and_ksmd_frees_some(tmp_path: Path) -> None:
    ksm, state = FakeKsm(tmp_path), tmp_path / "state"
    meminfo = tmp_path / "meminfo"
    write_meminfo(meminfo, 24 * GIB, 1 * GIB)
    facts: list[Fact] = []
    with KsmLease("r", ksm.dir, state) as lease:
        merging = Merging(lease, facts.append, ksm.dir, meminfo, tick=0.005)
        assert merging.floor == int(24 * GIB * 0.15)
        task = asyncio.create_task(merging.run())
        try:
            await until(lambda: merging.waits == 1)
            waiting = asyncio.create_task(enter(merging))
            await asyncio.sleep(0.05)
            assert not waiting.done()
            ksm.set(pages_sharing=2**18)  # 1 GiB merged
            write_meminfo(meminfo, 24 * GIB, 5 * GIB)
            await asyncio.wait_for(waiting, 5)
        finally:
            task.cancel()
    notes = [f.message for f in facts if isinstance(f, RunnerNote)]
    assert len(notes) == 1
    assert notes[0].startswith("waiting for memory: 1.0 GiB available, under 3.6 GiB")


async def test_launches_go_on_when_merging_frees_nothing_more(tmp_path: Path) -> None:
    """Short memory that ksmd cannot help with does not hold the run forever."""
    ksm, state = FakeKsm(tmp_path), tmp_path / "state"
    meminfo = tmp_path / "meminfo"
    write_meminfo(meminfo, 24 * GIB, 1 * GIB)
    with KsmLease("r", ksm.dir, state) as lease:
        merging = Merging(lease, lambda fact: None, ksm.dir, meminfo, tick=0.005)
        task = asyncio.create_task(merging.run())
        try:
            await until(lambda: merging.waits == 1)
            ksm.set(full_scans=SETTLE_SCANS)  # scanned everything, merged nothing
            await asyncio.wait_for(enter(merging), 5)
        finally:
            task.cancel()


async def test_at_most_a_window_of_launches_is_under_way(tmp_path: Path) -> None:
    ksm, state = FakeKsm(tmp_path), tmp_path / "state"
    write_meminfo(tmp_path / "meminfo", 24 * GIB, 20 * GIB)
    with KsmLease("r", ksm.dir, state) as lease:
        merging = Merging(lease, lambda fact: None, ksm.dir, tmp_path / "meminfo")
        inside = 0
        most = 0
        release = asyncio.Event()

        async def launch() -> None:
            nonlocal inside, most
            async with merging.admitted():
                inside += 1
                most = max(most, inside)
                await release.wait()
                inside -= 1

        launches = [asyncio.create_task(launch()) for _ in range(3 * memory_merge.WINDOW)]
        await asyncio.sleep(0.05)
        assert most == memory_merge.WINDOW
        release.set()
        await asyncio.wait_for(asyncio.gather(*launches), 5)


def test_a_run_that_outgrows_the_host_unmerged_is_told_what_to_expect() -> None:
    assert memory_merge.outgrows(100, 24 * GIB) is None
    warning = memory_merge.outgrows(5000, 23 * GIB)
    assert warning is not None
    assert warning.startswith(
        "5,000 forked instances need about 34 GiB unmerged and 23 GiB is available"
    )
    assert "OOM killer" in warning
