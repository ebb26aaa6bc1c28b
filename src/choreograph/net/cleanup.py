"""Leftovers of dead runs: find them by their run tag, and remove them.

A run holds an exclusive ``flock`` on its state file (:class:`RunLock`) for as long as its
network exists; the kernel releases it when the runner dies, however it dies. So a tag
whose lock nobody holds belongs to a dead run, and everything named with it — network
namespaces ``choreo-<tag>-*``, root links ``ch<tag>g``/``ch<tag>u``, switch processes with
``--tag <tag>`` on their command line, the state file — is a leftover. Live runs are never
touched, so a sweep is safe while other runs are going.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
from dataclasses import dataclass
from pathlib import Path

from choreograph.errors import RunnerError
from choreograph.net.addresses import tag_of_link, tag_of_netns
from choreograph.net.netns import run_ip

STATE_DIR = Path("/run/choreograph/net")
SWITCH_MARK = "choreograph.net.shaping._switch_main"


class RunLock:
    """The proof that a run is alive: an flock on ``<STATE_DIR>/<tag>.json``."""

    def __init__(self, tag: str, run_id: str, state_dir: Path = STATE_DIR) -> None:
        self.tag, self.run_id = tag, run_id
        self.path = state_dir / f"{tag}.json"
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunnerError(f"run {self.run_id} already has a network on this host") from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"run_id": self.run_id, "pid": os.getpid()}).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            os.close(self._fd)
            self._fd = None


def is_live(tag: str, state_dir: Path = STATE_DIR) -> bool:
    try:
        fd = os.open(state_dir / f"{tag}.json", os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Leftover:
    kind: str
    """``process``, ``link``, ``netns`` or ``state`` (removed in that order)."""
    name: str
    tag: str
    run_id: str = ""

    def __str__(self) -> str:
        run = f"run {self.run_id}" if self.run_id else f"run tag {self.tag}"
        return f"{self.kind} {self.name} ({run}, dead)"


def find_leftovers(state_dir: Path = STATE_DIR) -> list[Leftover]:
    """Everything on this host that belongs to a dead run."""
    found: list[Leftover] = []
    for pid, tag in _switch_processes():
        found.append(Leftover("process", str(pid), tag))
    with contextlib.suppress(FileNotFoundError):
        for name in sorted(os.listdir("/sys/class/net")):
            if link_tag := tag_of_link(name):
                found.append(Leftover("link", name, link_tag))
    with contextlib.suppress(FileNotFoundError):
        for name in sorted(os.listdir("/run/netns")):
            if netns_tag := tag_of_netns(name):
                found.append(Leftover("netns", name, netns_tag))
    with contextlib.suppress(FileNotFoundError):
        for path in sorted(state_dir.glob("*.json")):
            found.append(Leftover("state", str(path), path.stem))
    live = {tag for tag in {item.tag for item in found} if is_live(tag, state_dir)}
    runs = {tag: _run_id(state_dir / f"{tag}.json") for tag in {i.tag for i in found}}
    return [
        Leftover(item.kind, item.name, item.tag, runs[item.tag])
        for item in found
        if item.tag not in live
    ]


async def remove(leftovers: list[Leftover]) -> None:
    """Remove ``leftovers``: kill processes, delete links and namespaces, drop state."""
    for item in leftovers:
        if item.kind == "process":
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(item.name), signal.SIGKILL)
    links = [f"link del {i.name}" for i in leftovers if i.kind == "link"]
    namespaces = [f"netns del {i.name}" for i in leftovers if i.kind == "netns"]
    if links or namespaces:
        await run_ip(links + namespaces, force=True)
    for item in leftovers:
        if item.kind == "state":
            with contextlib.suppress(FileNotFoundError):
                Path(item.name).unlink()


async def sweep(state_dir: Path = STATE_DIR) -> list[Leftover]:
    """Remove the leftovers of every dead run; return what was removed."""
    leftovers = find_leftovers(state_dir)
    await remove(leftovers)
    return leftovers


def _switch_processes() -> list[tuple[int, str]]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if SWITCH_MARK.encode() in argv and b"--tag" in argv:
            index = argv.index(b"--tag") + 1
            if index < len(argv):
                found.append((int(entry), argv[index].decode()))
    return found


def _run_id(path: Path) -> str:
    try:
        return str(json.loads(path.read_text()).get("run_id", ""))
    except (OSError, ValueError):
        return ""
