"""Control groups as instance containers: find the hierarchies, make one cgroup per instance,
list, signal, kill, freeze and measure everything in it, and sweep a run's cgroups.

Why cgroups (and not a PID namespace per instance): a cgroup holds every descendant of the
instance whatever it does (``setsid``, double fork, re-parenting to init), can be killed as a
whole (``cgroup.kill`` on v2; freeze, kill, thaw on v1's freezer, so nothing forks away
mid-kill), frozen later to pause an instance, and it keeps CPU and memory counters that cost
one file read per sample instead of a walk of the process tree. A PID namespace would make
the instance PID 1 of its namespace, which changes its signal semantics (no default
SIGTERM action) and needs an init shim per instance. What a cgroup does not do is die with
the runner: :mod:`choreograph.runners._keeper_main` covers that.

Both layouts are served: cgroup v2 (``cgroup.kill``, ``cgroup.freeze``, ``cpu.stat``, and
``memory.current`` where the memory controller is enabled), and cgroup v1 with the
``freezer`` controller (plus ``cpuacct`` and ``memory`` for the counters). On a hybrid host
(v1 controllers and an empty v2 tree, as on the CI machine) membership and kill use v2 and the
memory counter comes from v1's memory controller. Cgroups are made under the runner's own
cgroup in each hierarchy, so limits placed on the runner still hold for its instances.

Layout: ``<hierarchy>/<runner's cgroup>/choreograph/<run id>/<cell>``. Stdlib only: the keeper
imports this module in a bare interpreter.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from choreograph.runners.cgroup_stats import cpu_seconds_in, memory_bytes_in

ROOT_NAME = "choreograph"


@dataclass(frozen=True)
class Hierarchy:
    """One mounted cgroup hierarchy and where this process sits in it."""

    version: int
    controllers: frozenset[str]
    mount: Path
    own: str
    """This process's cgroup path in the hierarchy ("/" at the root)."""

    @property
    def base(self) -> Path:
        """Where Choreograph's cgroups go: under ours, in a folder of their own."""
        return self.mount / self.own.lstrip("/") / ROOT_NAME


def discover(mountinfo: str | None = None, self_cgroup: str | None = None) -> list[Hierarchy]:
    """The cgroup hierarchies mounted here (v2 first), each with this process's place in it."""
    if mountinfo is None:
        mountinfo = _read("/proc/self/mountinfo")
    if self_cgroup is None:
        self_cgroup = _read("/proc/self/cgroup")
    own_v1: dict[str, str] = {}
    own_v2 = "/"
    for line in self_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[0] == "0" and parts[1] == "":
            own_v2 = parts[2]
        for name in parts[1].split(","):
            if name:
                own_v1[name] = parts[2]
    found: list[Hierarchy] = []
    for line in mountinfo.splitlines():
        fields = line.split()
        if " - " not in line or len(fields) < 5:
            continue
        tail = line.split(" - ", 1)[1].split()
        if len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        mount = Path(fields[4])
        if fields[3] != "/":
            continue  # a bind mount of a sub-tree: we cannot place ourselves in it reliably
        if tail[0] == "cgroup2":
            found.insert(0, Hierarchy(2, frozenset(), mount, own_v2))
            continue
        names = frozenset(o for o in tail[2].split(",") if o in _V1_CONTROLLERS)
        if names:
            own = next((own_v1[n] for n in names if n in own_v1), "/")
            found.append(Hierarchy(1, names, mount, own))
    return found


_V1_CONTROLLERS = frozenset({"freezer", "cpuacct", "memory", "pids", "cpu"})


@dataclass(frozen=True)
class Layout:
    """Which hierarchy does what for a run's cells; ``primary`` holds membership and kill."""

    primary: Hierarchy
    cpu: Hierarchy | None
    memory: Hierarchy | None

    @property
    def hierarchies(self) -> tuple[Hierarchy, ...]:
        seen: list[Hierarchy] = []
        for h in (self.primary, self.cpu, self.memory):
            if h is not None and h not in seen:
                seen.append(h)
        return tuple(seen)


def choose_layout(found: list[Hierarchy]) -> tuple[Layout | None, str]:
    """The best usable layout, or None and why there is none."""
    reasons: list[str] = []
    primary: Hierarchy | None = None
    for h in found:
        if h.version == 2 or "freezer" in h.controllers:
            problem = _probe(h)
            if problem is None:
                primary = h
                break
            reasons.append(problem)
    if primary is None:
        return None, "; ".join(reasons) or "no cgroup v2 or v1 freezer hierarchy is mounted"
    cpu: Hierarchy | None = primary if primary.version == 2 else None
    memory: Hierarchy | None = None
    if primary.version == 2 and "memory" in _read(
        str(primary.base.parent / "cgroup.subtree_control")
    ):
        memory = primary
    for h in found:
        if h.version == 1 and cpu is None and "cpuacct" in h.controllers and _probe(h) is None:
            cpu = h
        if h.version == 1 and memory is None and "memory" in h.controllers and _probe(h) is None:
            memory = h
    return Layout(primary, cpu, memory), ""


def _probe(h: Hierarchy) -> str | None:
    """None when we can make cgroups (and, on v2, kill them) under ``h``; else why not."""
    try:
        h.base.mkdir(exist_ok=True)
        probe = h.base / f".probe-{os.getpid()}"
        probe.mkdir(exist_ok=True)
        try:
            if h.version == 2 and not (probe / "cgroup.kill").exists():
                return f"{h.mount}: cgroup v2 without cgroup.kill (kernel < 5.14)"
        finally:
            probe.rmdir()
    except OSError as exc:
        return f"cannot make cgroups under {h.base}: {exc.strerror or exc}"
    return None


# --- one cell: the cgroup(s) of one instance ------------------------------------------


@dataclass(frozen=True)
class Cell:
    """The cgroup folders of one instance, one per hierarchy of the layout."""

    layout: Layout
    dirs: tuple[Path, ...]
    """Folders in ``layout.hierarchies`` order; ``dirs[0]`` is in the primary hierarchy."""

    @property
    def procs_files(self) -> tuple[str, ...]:
        """Files a new instance writes its pid to, before running anything, to join."""
        return tuple(str(d / "cgroup.procs") for d in self.dirs)

    def _dir(self, h: Hierarchy | None) -> Path | None:
        if h is None:
            return None
        return self.dirs[self.layout.hierarchies.index(h)]

    def pids(self) -> list[int]:
        return read_pids(self.dirs[0])

    def signal(self, sig: int) -> None:
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)

    def kill(self) -> None:
        """SIGKILL everything in the cell, including what forks while we kill."""
        kill_dir(self.dirs[0], self.layout.primary.version)

    def freeze(self, frozen: bool = True) -> None:
        set_frozen(self.dirs[0], self.layout.primary.version, frozen)

    def counter_files(self) -> tuple[tuple[str, int], tuple[str, int]] | None:
        """``((cpu file, version), (memory file, version))``: where the cell's counters are
        read (one file each; parse them with :func:`cpu_seconds_in` and
        :func:`memory_bytes_in`), or None when the layout lacks either hierarchy."""
        cpu, memory = self._dir(self.layout.cpu), self._dir(self.layout.memory)
        if cpu is None or memory is None or self.layout.cpu is None or self.layout.memory is None:
            return None
        version = self.layout.cpu.version
        return (
            (str(cpu / _CPU_PROBE[version]), version),
            (str(memory / "memory.stat"), self.layout.memory.version),
        )

    def cpu_seconds(self) -> float | None:
        d = self._dir(self.layout.cpu)
        if d is None or self.layout.cpu is None:
            return None
        version = self.layout.cpu.version
        return cpu_seconds_in(_read(str(d / _CPU_PROBE[version])).encode(), version)

    def memory_bytes(self) -> int | None:
        """Resident memory of the cell: anonymous plus mapped file pages (what RSS counts,
        with shared pages counted once)."""
        d = self._dir(self.layout.memory)
        if d is None or self.layout.memory is None:
            return None
        return memory_bytes_in(_read(str(d / "memory.stat")).encode(), self.layout.memory.version)

    def remove(self, wait_s: float = 2.0) -> bool:
        """Remove the cell's folders once empty (killing what is left); True when gone."""
        return remove_tree(self.dirs, self.layout.primary.version, wait_s)


def cell_of_process(pid: int, found: list[Hierarchy] | None = None) -> Cell | None:
    """The cgroups another manager put process ``pid`` in (a container engine's), as a
    :class:`Cell` to read its counters; None when it has no CPU or memory cgroup of its own.

    Each counter comes from whichever hierarchy places the process below its root: on this
    hybrid host Docker's cgroupfs driver uses the v1 ``cpuacct`` and ``memory`` trees and
    leaves the v2 one at ``/``."""
    v1: dict[str, str] = {}
    v2 = "/"
    for line in _read(f"/proc/{pid}/cgroup").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[0] == "0" and parts[1] == "":
            v2 = parts[2]
        for name in parts[1].split(","):
            v1[name] = parts[2]

    def place(h: Hierarchy, controller: str, probe: str) -> Path | None:
        if h.version == 2:
            where = v2
        elif controller in h.controllers:
            where = v1.get(controller, "/")
        else:
            return None
        folder = h.mount / where.lstrip("/")
        return folder if where != "/" and (folder / probe).exists() else None

    hierarchies = discover() if found is None else found
    cpu = next((h for h in hierarchies if place(h, "cpuacct", _CPU_PROBE[h.version])), None)
    memory = next((h for h in hierarchies if place(h, "memory", "memory.stat")), None)
    if cpu is None or memory is None:
        return None
    layout = Layout(cpu, cpu, memory)
    dirs = []
    for h in layout.hierarchies:
        controller, probe = (
            ("cpuacct", _CPU_PROBE[h.version]) if h is cpu else ("memory", "memory.stat")
        )
        folder = place(h, controller, probe)
        assert folder is not None
        dirs.append(folder)
    return Cell(layout, tuple(dirs))


_CPU_PROBE = {1: "cpuacct.usage", 2: "cpu.stat"}


def make_run_dirs(layout: Layout, run_id: str) -> list[Path]:
    """The run's folder in each hierarchy; on v2 with the memory counter, the memory
    controller is switched on down to the cells (v2 enables controllers per level)."""
    dirs = []
    for h in layout.hierarchies:
        folder = h.base / run_id
        folder.mkdir(parents=True, exist_ok=True)
        if h.version == 2 and layout.memory is h:
            for level in (h.base, folder):
                with contextlib.suppress(OSError):
                    (level / "cgroup.subtree_control").write_text("+memory")
        dirs.append(folder)
    return dirs


def make_cell(layout: Layout, run_id: str, name: str) -> Cell:
    dirs = []
    for h in layout.hierarchies:
        d = h.base / run_id / name
        d.mkdir(parents=True, exist_ok=True)
        dirs.append(d)
    return Cell(layout, tuple(dirs))


def cell_name(key: str) -> str:
    """A folder name for an instance key ``group/index`` (group ids never hold a '/')."""
    group, _, index = key.rpartition("/")
    return f"{group}.{index}" if group else key


# --- stdlib operations shared with the keeper -----------------------------------------


def read_pids(folder: Path) -> list[int]:
    return [int(p) for p in _read(str(folder / "cgroup.procs")).split() if p.isdigit()]


def kill_dir(folder: Path, version: int) -> None:
    if version == 2:
        with contextlib.suppress(OSError):
            (folder / "cgroup.kill").write_text("1")
            return
    # v1 (or a v2 write that failed): freeze so nothing forks away, kill, thaw to let die.
    frozen = set_frozen(folder, version, True)
    for pid in read_pids(folder):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    if frozen:
        set_frozen(folder, version, False)


def set_frozen(folder: Path, version: int, frozen: bool, wait_s: float = 1.0) -> bool:
    """Freeze or thaw; True when the freezer answered (it may take a moment to settle)."""
    name, value = (
        ("cgroup.freeze", "1" if frozen else "0")
        if version == 2
        else ("freezer.state", "FROZEN" if frozen else "THAWED")
    )
    try:
        (folder / name).write_text(value)
    except OSError:
        return False
    if frozen:
        # Both freezers settle asynchronously: wait until every task is stopped.
        deadline = time.monotonic() + wait_s
        while not _settled(folder, version) and time.monotonic() < deadline:
            time.sleep(0.001)
    return True


def _settled(folder: Path, version: int) -> bool:
    if version == 2:
        return "frozen 1" in _read(str(folder / "cgroup.events"))
    return _read(str(folder / "freezer.state")).strip() != "FREEZING"


def remove_tree(dirs: tuple[Path, ...] | list[Path], version: int, wait_s: float) -> bool:
    """Kill what is left in ``dirs[0]``, wait until empty, then rmdir every folder (deepest
    first, so a run folder goes after its cells)."""
    primary = dirs[0]
    deadline = time.monotonic() + wait_s
    for sub in sorted(_subdirs(primary), key=lambda p: -len(p.parts)):
        kill_dir(sub, version)
    kill_dir(primary, version)
    ok = True
    for folder in dirs:
        for sub in sorted([*_subdirs(folder), folder], key=lambda p: -len(p.parts)):
            while True:
                try:
                    sub.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        ok = False
                        break
                    if sub == primary or primary in sub.parents:
                        kill_dir(sub, version)
                    time.sleep(0.01)
    return ok


def _subdirs(folder: Path) -> Iterator[Path]:
    with contextlib.suppress(OSError):
        for dirpath, dirnames, _ in os.walk(folder):
            for name in dirnames:
                yield Path(dirpath) / name


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""
