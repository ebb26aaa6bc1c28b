"""Fixtures for ``local:docker`` tests: ``choreo`` run as a user runs it, in a home whose
builds are shared by the module (each plan's image is built once per module), and a check
after every test that its runs left no container, Docker network or namespace behind.

Tests here need root (the runner gives containers their data network) and Docker: every
module carries :data:`NEEDS`, which skips with the reason when either is missing. The
``local:netns`` leftover check of tests/integration/net (``nothing_left_behind``) runs
around every test here too, and the ``pair`` network fixture is shared with it.
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.compat.conftest import Choreo
from tests.docker_support import prepared_images, remove_tags, requires_docker
from tests.integration.net.conftest import (  # noqa: F401  (fixtures count by being here)
    IS_ROOT,
    ROOT_REASON,
    host_state,
    nothing_left_behind,
    open_network,
    pair,
    sleeping_containers,
)
from tests.integration.net.test_runner import messages

from choreograph.containers.client import RUN_LABEL
from choreograph.net.addresses import run_tag

NEEDS = [
    pytest.mark.root,
    pytest.mark.skipif(not IS_ROOT, reason=ROOT_REASON),
    requires_docker,
]
PLANS = Path(__file__).parent / "plans"
CONTAINERS_PLAN = PLANS / "containers"
HELPER_IMAGE = "busybox:1.36-glibc"
_OUR_REPOSITORIES = ("choreograph/containers", "choreograph/network-pingpong")
"""Where docker:python tags the images of the plans these tests build."""


def docker(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def labelled(run_id: str) -> list[str]:
    """Containers (any state) and networks carrying run ``run_id``'s label."""
    label = f"label={RUN_LABEL}={run_id}"
    containers = docker("ps", "-a", "-q", "--filter", label).stdout.split()
    networks = docker("network", "ls", "-q", "--filter", label).stdout.split()
    return [f"container {c}" for c in containers] + [f"network {n}" for n in networks]


def namespaces_of(run_id: str) -> list[str]:
    """Named network namespaces of run ``run_id`` (instances' and the switch's)."""
    tag = run_tag(run_id)
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in listed.splitlines() if tag in line]


def remove_labelled(run_id: str) -> None:
    label = f"label={RUN_LABEL}={run_id}"
    containers = docker("ps", "-a", "-q", "--filter", label).stdout.split()
    if containers:
        docker("rm", "-f", "-v", *containers)
    networks = docker("network", "ls", "-q", "--filter", label).stdout.split()
    if networks:
        docker("network", "rm", *networks)


def _tags() -> set[str]:
    names = docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    return {n for n in names if n.startswith(_OUR_REPOSITORIES)}


@pytest.fixture(scope="module")
def module_builds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One builds folder per module; the image tags its builds made (and no other) are
    removed at its end."""
    if not IS_ROOT:
        pytest.skip(ROOT_REASON)
    prepared_images()
    before = _tags()
    folder = tmp_path_factory.mktemp("docker-builds")
    yield folder
    remove_tags(*sorted(_tags() - before))


@pytest.fixture
def choreo(tmp_path: Path, module_builds: Path) -> Iterator[Choreo]:
    """``choreo(*args)`` in a home of this test's; afterwards, what its runs left in
    Docker or as namespaces fails the test, and is removed whatever happened."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "builds").symlink_to(module_builds, target_is_directory=True)
    before = host_state()
    yield Choreo(home)
    left: list[str] = []
    for run_dir in sorted((home / "runs").glob("*")) if (home / "runs").exists() else []:
        run_id = run_dir.name
        found = labelled(run_id) + [f"netns {n}" for n in namespaces_of(run_id)]
        if found:
            left += [f"{run_id}: {what}" for what in found]
            remove_labelled(run_id)
    if left or host_state() - before:
        Choreo(home)("healthcheck", "--fix", timeout=300)
    assert not left, f"left behind: {left}"


@pytest.fixture
def helper_container() -> Iterator[str]:
    """A running busybox container serving ``ok`` at ``http://<its name>:5678/`` (an
    ``additional_hosts`` service); removed at the end."""
    prepared_images()
    name = f"choreo-test-httpd-{uuid.uuid4().hex[:8]}"
    script = "mkdir -p /www && echo ok > /www/index.html && httpd -f -p 5678 -h /www"
    try:
        started = docker("run", "-d", "--name", name, HELPER_IMAGE, "sh", "-c", script)
        assert started.returncode == 0, started.stderr
        yield name
    finally:
        docker("rm", "-f", name)


def tagged(run_dir: Path, prefix: str) -> list[dict[str, Any]]:
    """The JSON records the plan logged as ``<prefix> {…}`` messages."""
    return [
        json.loads(m.removeprefix(prefix + " "))
        for m in messages(run_dir)
        if m.startswith(prefix + " ")
    ]


def check_rules_record(record: dict[str, Any]) -> None:
    """What the containers plan's ``rules`` case must have seen, on any runner."""
    shaped, unshaped = record["shaped"], record["unshaped"]
    assert all(t is not None and t >= 0.040 for t in shaped), record  # never early
    assert record["blocked"] is None, record  # the DROP rule
    assert record["unblocked"] is not None and None not in unshaped, record
    assert min(unshaped) < min(shaped), record  # the rule, not the host, made them slow
    new_ip = record["new_ip"]
    assert record["client_ip"] == record["eth1"] == record["seen_by_peer"] == new_ip, record


def pingpong_rtts(run_dir: Path) -> list[float]:
    """The slow round trips examples/network-pingpong measured (its 200 ms window)."""
    return [
        float(rtt)
        for text in messages(run_dir)
        for rtt in re.findall(r"ping RTT was ([\d.]+) ms \[200", text)
    ]
