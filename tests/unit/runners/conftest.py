"""Folders laid out like cgroups, so the sampler's cgroup path is tested without root."""

from __future__ import annotations

from pathlib import Path

import pytest

from choreograph.runners.cgroups import Cell, Hierarchy, Layout

V1_MEMORY = (
    "cache 8192\nrss 4096\nrss_huge 0\nmapped_file 0\n"
    "total_cache 8192\ntotal_rss {rss}\ntotal_rss_huge 777\ntotal_mapped_file {mapped}\n"
)


class FakeCell:
    """A cell in v1 ``cpuacct`` and ``memory`` hierarchies under a temporary folder."""

    def __init__(self, root: Path) -> None:
        cpu = Hierarchy(1, frozenset({"cpuacct"}), root / "cpuacct", "/")
        memory = Hierarchy(1, frozenset({"memory"}), root / "memory", "/")
        self.dirs = (cpu.mount / "run" / "g.0", memory.mount / "run" / "g.0")
        for d in self.dirs:
            d.mkdir(parents=True)
        self.cell = Cell(Layout(cpu, cpu, memory), self.dirs)

    def write(self, usage_ns: int, rss: int, mapped: int = 0) -> None:
        """What the kernel would show: CPU nanoseconds, resident and mapped bytes."""
        (self.dirs[0] / "cpuacct.usage").write_text(f"{usage_ns}\n")
        (self.dirs[1] / "memory.stat").write_text(V1_MEMORY.format(rss=rss, mapped=mapped))


@pytest.fixture
def fake_cell(tmp_path: Path) -> FakeCell:
    cell = FakeCell(tmp_path / "cgroup")
    cell.write(0, 4096)
    return cell
