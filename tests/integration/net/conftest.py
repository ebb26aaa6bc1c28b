"""Fixtures for tests that build real namespaces, links and TUN devices (root only).

Every test here is marked ``root`` and skipped, with the reason, when not run as root (CI
runs as root). An autouse fixture fails any test that leaves a namespace, a link or a
switch process behind, so cleanup is tested everywhere, failures included; runs that
another test session on the same host holds live are not this test's to answer for.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from choreograph.net._enter import in_netns
from choreograph.net.addresses import tag_of_link, tag_of_netns
from choreograph.net.cleanup import STATE_DIR, SWITCH_MARK, is_live
from choreograph.net.host import RunNetwork

T = TypeVar("T")
IS_ROOT = os.geteuid() == 0
ROOT_REASON = "needs root: creates network namespaces, veth links and TUN devices"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if IS_ROOT:
        return
    skip = pytest.mark.skip(reason=ROOT_REASON)
    for item in items:
        if "root" in item.keywords:
            item.add_marker(skip)


def host_state() -> set[str]:
    """Choreograph's namespaces, root links and switch processes on this host, except
    those of runs held live by a process outside this test session."""
    found: dict[str, str | None] = {}  # what → its run tag
    for name in _listdir("/run/netns"):
        if name.startswith("choreo-"):
            found[f"netns {name}"] = tag_of_netns(name)
    for name in _listdir("/sys/class/net"):
        if name.startswith("ch"):
            found[f"link {name}"] = tag_of_link(name)
    for pid in filter(str.isdigit, _listdir("/proc")):
        with contextlib.suppress(OSError):
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if any(SWITCH_MARK.encode() in arg for arg in argv):
                tag = argv[argv.index(b"--tag") + 1].decode() if b"--tag" in argv[:-1] else None
                found[f"process {pid}"] = tag
    others = {tag for tag in set(found.values()) if tag and _held_elsewhere(tag)}
    return {what for what, tag in found.items() if tag not in others}


def _held_elsewhere(tag: str) -> bool:
    """Whether a live run of another process tree (another test session) holds ``tag``."""
    if not is_live(tag):
        return False
    try:
        pid = int(json.loads((STATE_DIR / f"{tag}.json").read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    me = os.getpid()
    while pid > 1:  # up the parent chain: this process or one it started holds it?
        if pid == me:
            return False
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            return True
    return True


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except FileNotFoundError:
        return []


@pytest.fixture(autouse=True)
def nothing_left_behind() -> Iterator[None]:
    if not IS_ROOT:
        yield
        return
    before = host_state()
    yield
    left = host_state() - before
    assert not left, f"left behind: {sorted(left)}"


@pytest.fixture
def open_network() -> Callable[..., RunNetwork]:
    """``async with open_network(3, mtu=…) as net``: a run network of n hosts."""

    def make(count: int, **options: Any) -> RunNetwork:
        names = [f"h-{i}" for i in range(count)]
        return RunNetwork(f"test-{uuid.uuid4().hex[:12]}", names, **options)

    return make


@pytest.fixture
async def pair(open_network: Callable[..., RunNetwork]) -> AsyncIterator[RunNetwork]:
    """A run network of three hosts (most tests use two; the third is a bystander)."""
    async with open_network(3) as net:
        yield net


def choreo(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``choreo ARGS…`` as a user types it, with ``home`` as its CHOREO_HOME."""
    return subprocess.run(
        [sys.executable, "-m", "choreograph.cli", *args],
        env=dict(os.environ, CHOREO_HOME=str(home), COLUMNS="200", NO_COLOR="1"),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=Path(__file__).resolve().parents[3],
    )


def wait_until_sleeping(home: Path, instances: int, timeout: float = 60) -> None:
    """Wait until every instance of the hosts plan's ``sleep`` case says it sleeps."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        outs = list(home.glob("runs/*/single/*/run.out"))
        if len(outs) == instances and all("sleeping" in p.read_text() for p in outs):
            return
        time.sleep(0.1)
    pytest.fail("the instances never started")


def in_ns(netns: str, make: Callable[[], T]) -> T:
    """Call ``make`` with a thread inside ``netns`` (sockets it creates stay there)."""
    out: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with in_netns(netns):
                out.append(make())
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return out[0]


def udp(net: RunNetwork, index: int, port: int | None = None) -> socket.socket:
    """A UDP socket in host ``index``; bound to its data address and ``port`` when given."""
    sock = in_ns(net.plan.instances[index].netns, lambda: socket.socket(type=socket.SOCK_DGRAM))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    if port is not None:
        sock.bind((str(net.address_of(index)), port))
    return sock


def tcp(net: RunNetwork, index: int) -> socket.socket:
    return in_ns(net.plan.instances[index].netns, socket.socket)
