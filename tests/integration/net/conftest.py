"""Fixtures for tests that build real namespaces, links and TUN devices (root only).

Every test here is marked ``root`` and skipped, with the reason, when not run as root (CI
runs as root). An autouse fixture fails any test that leaves a namespace, a link or a
switch process behind, so cleanup is tested everywhere, failures included; runs that
another test session on the same host holds live are not this test's to answer for.

The ``pair`` network runs each data-network test twice: ``[netns]``, namespaces made by
:class:`RunNetwork` as ``local:netns`` makes them, and ``[docker]``, the namespaces of
running containers adopted as ``local:docker`` adopts them (data interface ``eth1``).
Tests about what only ``local:netns`` has are listed in :data:`NETNS_ONLY`, with why.
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
from tests.docker_support import prepared_images, requires_docker

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


NETNS_ONLY: dict[str, str] = {
    "test_tcp_stream_and_the_kernel_view": "reads the control address local:netns plans",
    "test_control_path_reaches_this_host_unshaped": "the control network is local:netns's",
    "test_control_path_ignores_shaping_and_deny_all": "the control network is local:netns's",
    "test_ip_change_moves_the_host": "tests/integration/docker has the local:docker version",
    "test_disable_then_enable": "tests/integration/docker has the local:docker version",
}
"""Tests that use ``pair`` but stay ``[netns]`` only: they are about the control network
``local:netns`` builds (``local:docker``'s is a Docker bridge, tested with the runner in
tests/integration/docker). Both name the interfaces as Testground does: ``eth0`` control,
``eth1`` data."""

SLEEPER_IMAGE = "busybox:1.36-glibc"
DOCKER_DATA_IFNAME = "eth1"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "pair" not in metafunc.fixturenames:
        return
    kinds: list[Any] = ["netns"]
    if metafunc.definition.originalname not in NETNS_ONLY:
        kinds.append(pytest.param("docker", marks=requires_docker))
    metafunc.parametrize("pair", kinds, indirect=True)


@pytest.fixture(scope="module")
def sleeping_containers() -> Iterator[list[int]]:
    """Pids of three long-sleeping containers with no network of their own, shared by a
    module's ``pair[docker]`` tests (each adopts them into a new run network, whose
    switch takes their ``eth1`` away when it closes); removed at the end, whatever
    happened."""
    prepared_images()
    names = [f"choreo-test-pair-{uuid.uuid4().hex[:8]}-{i}" for i in range(3)]
    try:
        for name in names:
            subprocess.run(
                [
                    *("docker", "run", "-d", "--name", name, "--network", "none"),
                    *("--label", "choreograph.test=pair", SLEEPER_IMAGE, "sleep", "3600"),
                ],
                check=True,
                capture_output=True,
                timeout=180,
            )
        yield [_container_pid(name) for name in names]
    finally:
        subprocess.run(["docker", "rm", "-f", *names], capture_output=True, timeout=180)


def _container_pid(name: str) -> int:
    done = subprocess.run(
        ["docker", "inspect", "--format", "{{.State.Pid}}", name],
        capture_output=True,
        text=True,
        timeout=60,
    )
    pid = int(done.stdout.strip() or 0)
    assert done.returncode == 0 and pid > 0, f"container {name} is not running: {done.stderr}"
    return pid


def _remove_link(pid: int, ifname: str) -> None:
    """Remove ``ifname`` from the namespace of ``pid`` if it is there. A closed run network
    leaves its persistent TUN ``eth1`` in an adopted namespace that outlives it (see
    tests/integration/docker/test_adopted_network.py); ``local:docker`` stops its
    containers first, these sleepers are adopted again by the module's next test."""
    try:
        lines = Path(f"/proc/{pid}/net/dev").read_text().splitlines()[2:]
    except OSError:
        pytest.fail(f"the sleeping container of pid {pid} is gone")
    if ifname in {line.partition(":")[0].strip() for line in lines}:
        subprocess.run(
            ["nsenter", f"--net=/proc/{pid}/ns/net", "ip", "link", "del", ifname],
            check=True,
            capture_output=True,
            timeout=60,
        )


@pytest.fixture
async def pair(
    request: pytest.FixtureRequest, open_network: Callable[..., RunNetwork]
) -> AsyncIterator[RunNetwork]:
    """A run network of three hosts (most tests use two; the third is a bystander):
    namespaces of its own (``[netns]``), or three containers' (``[docker]``)."""
    if getattr(request, "param", "netns") == "netns":
        async with open_network(3) as net:
            yield net
        return
    pids: list[int] = request.getfixturevalue("sleeping_containers")
    try:
        async with open_network(3, adopted=True, data_ifname=DOCKER_DATA_IFNAME) as net:
            for index, pid in enumerate(pids):
                await net.adopt(index, pid)
            yield net
    finally:
        for pid in pids:
            _remove_link(pid, DOCKER_DATA_IFNAME)


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
