"""Fixtures for ``cluster:k8s`` tests, which run on a real cluster: the single-node one
``scripts/k8s-local.sh up`` brings up on this host (``.ci/run`` does), or any cluster
``KUBECONFIG`` names. Every test here needs root and Docker (images are built by the
``docker:*`` builders and loaded into the cluster) and a cluster that answers; each
module skips with the reason when one is missing — and fails instead when
``CHOREO_TEST_K8S=required`` (``.ci/run`` sets it once it brought the cluster up), so CI
never passes by skipping. After every test, no namespace of a run is left in the cluster.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.compat.conftest import Choreo
from tests.docker_support import docker_problem

from choreograph.cluster.config import kubeconfig_path
from choreograph.cluster.pods import MANAGED_LABEL, MANAGER

REQUIRED_ENV = "CHOREO_TEST_K8S"
RUN_NAMESPACES = f"{MANAGED_LABEL}={MANAGER}"
OUTCOMES = Path(__file__).parents[2] / "compat" / "go" / "plans" / "outcomes"


def kubectl(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["kubectl", "--kubeconfig", kubeconfig_path(""), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def cluster_problem() -> str | None:
    if os.geteuid() != 0:
        return "needs root (the cluster's images are loaded into its containerd)"
    if problem := docker_problem():
        return problem
    if not kubeconfig_path(""):
        return "no Kubernetes cluster: bring one up with scripts/k8s-local.sh up"
    ready = kubectl("get", "--raw", "/readyz", timeout=20)
    if ready.returncode != 0:
        return f"the Kubernetes cluster does not answer: {ready.stderr.strip()[:200]}"
    return None


PROBLEM = cluster_problem()
REQUIRED = os.environ.get(REQUIRED_ENV) == "required"
NEEDS = [
    pytest.mark.root,
    pytest.mark.skipif(PROBLEM is not None and not REQUIRED, reason=str(PROBLEM)),
]
"""Every module here: skipped (its plans not even built) without a cluster, unless one
is required."""


@pytest.fixture(scope="session")
def cluster() -> None:
    if PROBLEM is not None:
        pytest.fail(f"{REQUIRED_ENV}=required, but {PROBLEM}")


def run_namespaces() -> list[str]:
    listed = kubectl("get", "namespaces", "-l", RUN_NAMESPACES, "-o", "json")
    assert listed.returncode == 0, listed.stderr
    return [item["metadata"]["name"] for item in json.loads(listed.stdout)["items"]]


def wait_namespaces_gone(timeout: float = 120, ignore: frozenset[str] = frozenset()) -> list[str]:
    """Run namespaces still there (other than ``ignore``) once they are gone or after
    ``timeout`` seconds (a namespace takes a moment to finish terminating)."""
    deadline = time.monotonic() + timeout
    while (left := sorted(set(run_namespaces()) - ignore)) and time.monotonic() < deadline:
        time.sleep(1)
    return left


@pytest.fixture
def k8s(cluster: None, tmp_path: Path, shared_builds: Path) -> Iterator[Choreo]:
    """``choreo`` with its own home (builds shared by the session); afterwards the test's
    runs left no namespace in the cluster (removed anyway, so one failure stays one)."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "builds").symlink_to(shared_builds, target_is_directory=True)
    before = frozenset(run_namespaces())
    yield Choreo(home)
    left = wait_namespaces_gone(ignore=before)
    for ns in left:
        kubectl("delete", "namespace", ns, "--wait=false")
    assert not left, f"run namespaces left in the cluster: {left}"
