"""Containment of a run's instances: everything an instance starts can be found, signalled,
killed, frozen and measured, and is killed when the instance ends, when the run ends and
when the runner dies.

:class:`RunContainment` is the run's side: it picks cgroups where this host lets us make
them (see :mod:`choreograph.runners.cgroups` for why cgroups), else a process-group
fallback, and starts the run's keeper (:mod:`choreograph.runners._keeper_main`) that sweeps
everything if the runner dies. Each instance gets a :class:`Cage`; launchers make the new
process join it (``join_files``) before any plan code runs, so even its first child is
inside. Every instance is also started with ``CHOREO_CELL=<run>/<key>`` in its environment:
the fallback and the keeper use it to find a run's processes without cgroups.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from choreograph.runners import cgroups
from choreograph.runners._keeper_main import MARKER_VAR, marked_pids, sweep_marked

log = logging.getLogger("choreograph.runners")


@dataclass
class Cage:
    """One instance's container: a cgroup cell, or (fallback) its process group."""

    key: str
    marker: str
    """``<run id>/<key>``: the value of ``CHOREO_CELL`` in the instance's environment."""
    cell: cgroups.Cell | None
    pgid: int = 0
    """Set once started: the instance's process group (it leads its own session)."""

    @property
    def join_files(self) -> tuple[str, ...]:
        return self.cell.procs_files if self.cell is not None else ()

    def pids(self) -> list[int]:
        if self.cell is not None:
            return self.cell.pids()
        return marked_pids(self.marker, exact=True)

    def signal(self, sig: int) -> None:
        """Send ``sig`` to every process of the instance (not just its process group)."""
        if self.cell is not None:
            self.cell.signal(sig)
            return
        if self.pgid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pgid, sig)
        for pid in marked_pids(self.marker, exact=True):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)

    def kill(self) -> None:
        if self.cell is not None:
            self.cell.kill()
        else:
            self.signal(signal.SIGKILL)

    def freeze(self, frozen: bool = True) -> None:
        """Pause (or resume) the whole instance; with the fallback, SIGSTOP/SIGCONT."""
        if self.cell is not None:
            self.cell.freeze(frozen)
        else:
            self.signal(signal.SIGSTOP if frozen else signal.SIGCONT)

    def release(self) -> None:
        """Kill what is left and remove the cell (the instance has ended)."""
        if self.cell is not None:
            if not self.cell.remove():
                log.warning("cgroup of %s could not be removed yet: %s", self.key, self.cell.dirs)
        else:
            self.kill()


class RunContainment:
    """The cages of one run on this host; ``with`` it around the run."""

    def __init__(self, run_id: str, *, use_cgroups: bool = True) -> None:
        self.run_id = run_id
        self.layout: cgroups.Layout | None = None
        self.why_not_cgroups = "disabled"
        if use_cgroups:
            self.layout, self.why_not_cgroups = cgroups.choose_layout(cgroups.discover())
        self._keeper: subprocess.Popen[bytes] | None = None
        self._keeper_pipe: int | None = None
        self._cages: dict[str, Cage] = {}

    @property
    def kind(self) -> str:
        """``cgroup2``, ``cgroup1`` or ``process-group``: what holds the instances."""
        if self.layout is None:
            return "process-group"
        return f"cgroup{self.layout.primary.version}"

    def run_dirs(self) -> list[Path]:
        if self.layout is None:
            return []
        return [h.base / self.run_id for h in self.layout.hierarchies]

    def __enter__(self) -> RunContainment:
        if self.layout is not None:
            cgroups.make_run_dirs(self.layout, self.run_id)
        self._start_keeper()
        if self.layout is None:
            log.info("instances contained by process group only: %s", self.why_not_cgroups)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def cage(self, key: str) -> Cage:
        cell = None
        if self.layout is not None:
            cell = cgroups.make_cell(self.layout, self.run_id, cgroups.cell_name(key))
        cage = Cage(key, f"{self.run_id}/{key}", cell)
        self._cages[key] = cage
        return cage

    def env(self, cage: Cage) -> dict[str, str]:
        """What every instance's environment gets so the keeper can find its processes."""
        return {MARKER_VAR: cage.marker}

    def close(self) -> None:
        """Kill whatever any instance left, remove every cell, dismiss the keeper."""
        for cage in self._cages.values():
            cage.release()
        self._cages.clear()
        dirs = self.run_dirs()
        if dirs and self.layout is not None:
            cgroups.remove_tree(dirs, self.layout.primary.version, wait_s=2.0)
            for folder in dirs:
                # Choreograph's own folder goes too once no run uses it (another run may).
                with contextlib.suppress(OSError):
                    folder.parent.rmdir()
        else:
            sweep_marked(self.run_id)
        self._stop_keeper()

    def _start_keeper(self) -> None:
        read_end, write_end = os.pipe()
        version = str(self.layout.primary.version) if self.layout else "0"
        try:
            self._keeper = subprocess.Popen(
                [
                    sys.executable,
                    "-I",
                    "-S",
                    "-c",
                    _KEEPER_BOOT,
                    version,
                    self.run_id,
                    *map(str, self.run_dirs()),
                ],
                stdin=read_end,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            )
        finally:
            os.close(read_end)
        os.set_inheritable(write_end, False)
        self._keeper_pipe = write_end

    def _stop_keeper(self) -> None:
        if self._keeper_pipe is not None:
            os.close(self._keeper_pipe)  # the keeper sees EOF, finds nothing, exits
            self._keeper_pipe = None
        if self._keeper is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._keeper.wait(timeout=5)
            self._keeper = None


# An isolated interpreter without site (≈ 10 ms to start) pointed at this package: the
# keeper needs nothing else, and nothing of the user's environment can change what it does.
_KEEPER_BOOT = (
    "import sys; sys.argv[0] = 'choreograph-keeper'; "
    f"sys.path.insert(0, {str(Path(cgroups.__file__).resolve().parents[2])!r}); "
    "from choreograph.runners._keeper_main import main; main()"
)


def live_run_ids() -> set[str]:
    """Runs whose keeper is alive on this host (the keeper names its run in its argv)."""
    found: set[str] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if len(argv) > 6 and b"choreograph.runners._keeper_main" in argv[4]:
            found.add(argv[6].decode(errors="replace"))
    return found


def dead_run_cgroups() -> dict[str, int]:
    """Run id → processes still inside, for run cgroups whose keeper is gone."""
    layout, _ = cgroups.choose_layout(cgroups.discover())
    if layout is None:
        return {}
    live = live_run_ids()
    dead: dict[str, int] = {}
    base = layout.primary.base
    with contextlib.suppress(OSError):
        for folder in base.iterdir():
            if folder.is_dir() and not folder.name.startswith(".") and folder.name not in live:
                pids = sum(
                    len(cgroups.read_pids(d)) for d in (folder, *folder.iterdir()) if d.is_dir()
                )
                dead[folder.name] = pids
    return dead


def remove_dead_run_cgroups(run_ids: Iterable[str]) -> list[str]:
    """Kill and remove the given runs' cgroups; return those that could not be removed."""
    layout, _ = cgroups.choose_layout(cgroups.discover())
    if layout is None:
        return []
    left = []
    for run_id in run_ids:
        dirs = [h.base / run_id for h in layout.hierarchies]
        if not cgroups.remove_tree(dirs, layout.primary.version, wait_s=5.0):
            left.append(run_id)
    return left
