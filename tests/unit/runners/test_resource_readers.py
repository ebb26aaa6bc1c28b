"""What the sampler reads: cgroup counters from folders laid out like cgroups (no root
needed), ``/proc/<pid>/stat`` lines, and a process table from a folder laid out like /proc."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from choreograph.runners.cgroup_stats import memory_bytes_in, stat_value
from choreograph.runners.cgroups import Cell, Hierarchy, Layout
from choreograph.runners.resource_readers import (
    CLK_TCK,
    PAGE_SIZE,
    CellCounters,
    FdBudget,
    ProcScanner,
    parse_stat,
    read_stat,
)

from .conftest import FakeCell


def test_a_v1_cell_is_read_from_its_two_files(fake_cell: FakeCell) -> None:
    fake_cell.write(2_500_000_000, rss=40960, mapped=8192)
    cell = fake_cell.cell
    files = cell.counter_files()
    assert files == (
        (str(cell.dirs[0] / "cpuacct.usage"), 1),
        (str(cell.dirs[1] / "memory.stat"), 1),
    )
    counters = CellCounters(files, FdBudget(10))
    assert counters.kept_open
    # total_rss + total_mapped_file: not rss (this cgroup alone), not total_rss_huge.
    assert counters.read() == (2.5, 40960 + 8192)
    # Files kept open are read again from the start, as cgroup files are rewritten.
    fake_cell.write(3_000_000_000, rss=81920)
    assert counters.read() == (3.0, 81920)
    assert (cell.cpu_seconds(), cell.memory_bytes()) == (3.0, 81920)
    counters.close()


def test_a_v2_cell_is_read_from_cpu_stat_and_memory_stat(tmp_path: Path) -> None:
    h = Hierarchy(2, frozenset(), tmp_path, "/")
    d = tmp_path / "run" / "g.0"
    d.mkdir(parents=True)
    (d / "cpu.stat").write_text("usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n")
    (d / "memory.stat").write_text("anon 65536\nfile 1048576\nkernel 4096\nfile_mapped 4096\n")
    cell = Cell(Layout(h, h, h), (d,))
    counters = CellCounters(cell.counter_files() or pytest.fail("no counters"), FdBudget(0))
    assert not counters.kept_open  # no budget: opened per read
    assert counters.read() == (1.5, 65536 + 4096)


def test_a_removed_cell_raises_and_a_partial_one_reads_none(fake_cell: FakeCell) -> None:
    cell = fake_cell.cell
    budget = FdBudget(0)
    counters = CellCounters(cell.counter_files() or pytest.fail("no counters"), budget)
    (cell.dirs[1] / "memory.stat").write_text("cache 0\n")  # neither figure
    assert counters.read() is None
    (cell.dirs[1] / "memory.stat").unlink()
    with pytest.raises(OSError):
        counters.read()


def test_the_budget_bounds_the_files_kept_open(fake_cell: FakeCell) -> None:
    files = fake_cell.cell.counter_files() or pytest.fail("no counters")
    budget = FdBudget(3)
    first, second = CellCounters(files, budget), CellCounters(files, budget)
    assert first.kept_open and not second.kept_open and budget.held == 2
    first.close()
    assert budget.held == 0 and CellCounters(files, budget).kept_open


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [(b"usage_usec 12\nuser_usec 3\n", b"usage_usec", 12), (b"a 1\nab 2\nb 3", b"b", 3),
     (b"a 1\nab 2\n", b"b", None), (b"a x\n", b"a", None), (b"", b"a", None)],
)  # fmt: skip
def test_stat_value_finds_whole_keys_only(text: bytes, key: bytes, value: int | None) -> None:
    assert stat_value(text, key) == value


def test_memory_is_none_only_when_neither_figure_is_there() -> None:
    assert memory_bytes_in(b"anon 0\n", 2) == 0
    assert memory_bytes_in(b"file 9\n", 2) is None


STAT = (
    "{pid} ({comm}) {state} {ppid} 1 1 0 -1 0 0 0 0 0 {utime} {stime} 0 0 20 0 1 0 {start} 0 {rss}"
)


def stat_line(pid: int, ppid: int, *, comm: str = "sleep", state: str = "S", rss: int = 10,
              utime: int = 0, start: int = 100) -> str:  # fmt: skip
    return STAT.format(
        pid=pid, comm=comm, state=state, ppid=ppid, utime=utime, stime=0, start=start, rss=rss
    )


def test_a_stat_line_with_an_awkward_command_name() -> None:
    stat = parse_stat(stat_line(7, 1, comm="a) (b c", utime=250, rss=3, start=42).encode())
    assert stat is not None
    assert (stat.ppid, stat.alive, stat.rss, stat.start) == (1, True, 3 * PAGE_SIZE, 42)
    assert stat.cpu == pytest.approx(250 / CLK_TCK)
    zombie = parse_stat(stat_line(7, 1, state="Z").encode())
    assert zombie is not None and not zombie.alive
    assert parse_stat(b"7 (sleep") is None


def test_one_scan_finds_each_tree(tmp_path: Path) -> None:
    for pid, ppid in [(10, 1), (11, 10), (12, 11), (20, 1), (13, 10)]:
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "stat").write_text(stat_line(pid, ppid))
    (tmp_path / "self").mkdir()
    (tmp_path / "30").mkdir()  # gone between the listing and the read
    budget = FdBudget(3)
    scanner = ProcScanner(budget, str(tmp_path))
    table = scanner.scan()
    assert sorted(pid for pid, _ in table.tree(10)) == [10, 11, 12, 13]
    assert [pid for pid, _ in table.tree(20)] == [20]
    assert table.tree(99) == []
    # The files of the processes followed stay open, as far as the budget goes.
    scanner.follow({10, 11, 12, 13})
    scanner.scan()
    assert budget.held == 3
    (tmp_path / "10" / "stat").write_text(stat_line(10, 1, utime=500))
    assert scanner.scan().stats[10].cpu == pytest.approx(500 / CLK_TCK)  # read afresh
    shutil.rmtree(tmp_path / "11")
    scanner.scan()  # a process gone: its file is closed
    assert budget.held == 2
    scanner.follow({20})
    assert budget.held == 0
    scanner.close()


def test_read_stat_of_this_process_and_of_none() -> None:
    mine = read_stat(os.getpid())
    assert mine is not None and mine.alive and mine.rss > 0
    assert read_stat(0) is None
