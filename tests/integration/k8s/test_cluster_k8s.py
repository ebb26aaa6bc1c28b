"""``cluster:k8s`` on a real cluster: Testground-style Go plans (sdk-go) built by
``docker:go``, a Python composition of two dependency versions built by ``docker:python``,
outputs collected from pods, crashes, refusals, and nothing left behind even after
``kill -9`` of ``choreo``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.compat.conftest import Choreo, Run
from tests.integration.docker.conftest import check_rules_record, pingpong_rtts, tagged

from .conftest import NEEDS, OUTCOMES, kubectl, run_namespaces, wait_namespaces_gone

GO_BUILD = ("single", "--plan", str(OUTCOMES), "--builder", "docker:go")
pytestmark = [*NEEDS, pytest.mark.prebuilt(*GO_BUILD, tools=("go",), images=True)]
MIXED = Path(__file__).parents[3] / "examples" / "mixed-versions"


def run_go(k8s: Choreo, case: str, instances: int, *extra: str, timeout: float = 300) -> Run:
    return k8s(
        "run", "single", "--plan", str(OUTCOMES), "--case", case, "-i", str(instances),
        "--builder", "docker:go", "--runner", "cluster:k8s", *extra,
        timeout=timeout,
    )  # fmt: skip


def test_barrier_and_pubsub_across_twenty_pods(k8s: Choreo) -> None:
    barrier = run_go(k8s, "barrier", 20)
    assert barrier.code == 0, str(barrier)
    assert set(barrier.statuses().values()) == {"success"} and len(barrier.statuses()) == 20
    pubsub = run_go(k8s, "pubsub", 5)
    assert pubsub.code == 0, str(pubsub)
    assert set(pubsub.statuses().values()) == {"success"}


def test_outputs_come_back_from_the_pod(k8s: Choreo) -> None:
    run = run_go(k8s, "metrics", 1)
    assert run.code == 0, str(run)
    assert run.run_dir is not None
    folder = run.run_dir / "single" / "0"
    assert any(e.get("success_event") for e in run.events("single/0")), run.events("single/0")
    results = (folder / "results.out").read_text().splitlines()
    names = {json.loads(line)["name"] for line in results if line.strip()}
    assert "latency_ms" in names, results  # counters go out on a timer, points at once


def test_a_failing_and_a_panicking_instance(k8s: Choreo) -> None:
    failed = run_go(k8s, "failure", 1)
    assert failed.code != 0 and failed.statuses() == {"single/0": "failure"}, str(failed)
    assert "503" in failed.instances["single/0"]["error"]
    panicked = run_go(k8s, "panic", 1)
    assert panicked.statuses() == {"single/0": "crash"}, str(panicked)


def test_an_instance_killed_mid_run_is_a_crash(k8s: Choreo) -> None:
    proc = _background(k8s, "sleep", 2)
    try:
        pod, namespace = _wait_running_pod()
        status = kubectl("get", "pod", pod, "-n", namespace, "-o", "json")
        container = next(
            c
            for c in json.loads(status.stdout)["status"]["containerStatuses"]
            if c["name"] == "instance"
        )
        cid = container["containerID"].split("://", 1)[1]
        killed = subprocess.run(
            ["ctr", "-a", "/run/choreograph-k8s/containerd.sock", "-n", "k8s.io",
             "tasks", "kill", "-s", "SIGKILL", cid],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert killed.returncode == 0, killed.stderr
        _wait_pod_gone(pod, namespace)  # the runner reported the exit, then deleted it
        proc.send_signal(signal.SIGINT)  # the other instance: stop the run
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    run_dir = sorted((k8s.home / "runs").glob("*/run.json"))[-1].parent
    outcome = json.loads((run_dir / "run.json").read_text())["outcome"]["instances"]
    statuses = {key: o["status"] for key, o in outcome.items()}
    assert "crash" in statuses.values(), (statuses, out)


def test_a_running_instances_log_reaches_run_out_before_it_ends(k8s: Choreo) -> None:
    before = set((k8s.home / "runs").glob("*/single/0/run.out"))
    proc = _background(k8s, "sleep", 1)  # records "sleeping 120 s", then sleeps 120 s
    try:
        _wait_running_pod()
        seen = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "sleeping 120 s" not in seen:
            for path in set((k8s.home / "runs").glob("*/single/0/run.out")) - before:
                seen = path.read_text()
            time.sleep(0.5)
        assert "sleeping 120 s" in seen, seen
        assert proc.poll() is None, "the instance should still be running"
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    (path,) = set((k8s.home / "runs").glob("*/single/0/run.out")) - before
    assert path.read_text().count("sleeping 120 s") == 1, (path.read_text(), out)


def test_kill_9_of_choreo_leaves_what_healthcheck_fix_removes(k8s: Choreo) -> None:
    before = frozenset(run_namespaces())
    proc = _background(k8s, "sleep", 2)
    _wait_running_pod()
    proc.kill()
    proc.wait(timeout=30)
    left = sorted(set(run_namespaces()) - before)
    assert left, "the killed run's namespace should still be there"
    check = k8s("healthcheck", "--runner", "cluster:k8s")
    assert check.code == 1 and left[0] in check.stdout, str(check)
    fixed = k8s("healthcheck", "--runner", "cluster:k8s", "--fix", timeout=200)
    assert fixed.code == 0, str(fixed)
    assert wait_namespaces_gone(ignore=before) == []


def test_more_than_fits_is_refused_before_anything_starts(k8s: Choreo, tmp_path: Path) -> None:
    before = frozenset(run_namespaces())
    composition = tmp_path / "huge.toml"
    composition.write_text(
        f"""
[metadata]
name = "too big"
[global]
plan = "{OUTCOMES}"
case = "success"
builder = "docker:go"
runner = "cluster:k8s"
[global.run_config]
testplan_pod_cpu = "100"
[[groups]]
id = "big"
instances = {{ count = 3 }}
"""
    )
    run = k8s("run", "composition", "-f", str(composition), timeout=300)
    assert run.code != 0, str(run)
    text = run.stdout + run.stderr
    assert "do not fit" in text and "at most" in text, text
    assert set(run_namespaces()) - before == set()


def test_two_dependency_versions_of_a_python_plan(k8s: Choreo, tmp_path: Path) -> None:
    composition = tmp_path / "versions.toml"
    source = (MIXED / "versions.toml").read_text()
    composition.write_text(source.replace('plan = "."', f'plan = "{MIXED}"'))
    run = k8s(
        "run", "composition", "-f", str(composition),
        "--builder", "docker:python", "--runner", "cluster:k8s",
        timeout=600,
    )  # fmt: skip
    assert run.code == 0, str(run)
    assert set(run.statuses().values()) == {"success"} and len(run.statuses()) == 4


def _background(k8s: Choreo, case: str, instances: int) -> subprocess.Popen[str]:
    env = dict(os.environ, CHOREO_HOME=str(k8s.home), NO_COLOR="1")
    return subprocess.Popen(
        [sys.executable, "-m", "choreograph.cli", "run", "single", "--plan", str(OUTCOMES),
         "--case", case, "-i", str(instances), "--builder", "docker:go",
         "--runner", "cluster:k8s", "--tp", "seconds=120"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def _wait_running_pod(timeout: float = 120) -> tuple[str, str]:
    """A pod of a run whose instance container runs: (name, namespace)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listed = kubectl("get", "pods", "-A", "-l", "choreograph.io/run", "-o", "json")
        for item in json.loads(listed.stdout or '{"items": []}')["items"]:
            for c in item["status"].get("containerStatuses", []):
                if c["name"] == "instance" and "running" in c.get("state", {}):
                    return item["metadata"]["name"], item["metadata"]["namespace"]
        time.sleep(1)
    raise AssertionError("no instance pod ran within the timeout")


def _wait_pod_gone(pod: str, namespace: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if kubectl("get", "pod", pod, "-n", namespace).returncode != 0:
            return
        time.sleep(0.5)
    raise AssertionError(f"pod {pod} was not deleted after its instance ended")


REPO = Path(__file__).parents[3]
CONTAINERS_PLAN = REPO / "tests" / "integration" / "docker" / "plans" / "containers"


@pytest.mark.timeout(900)
def test_network_pingpong_keeps_its_rtt_window_in_pods(k8s: Choreo) -> None:
    """The same example and windows as under local:netns and local:docker: the pods get
    the run's shaped data network as eth1."""
    run = k8s(
        "run", "single", "--plan", str(REPO / "examples" / "network-pingpong"),
        "--case", "pingpong", "--builder", "docker:python", "--runner", "cluster:k8s",
        timeout=800,
    )  # fmt: skip
    assert run.code == 0, str(run)
    assert run.run_dir is not None
    rtts = pingpong_rtts(run.run_dir)
    assert len(rtts) == 2 and all(rtt >= 200 for rtt in rtts), rtts
    # pods on this host are sampled as local:docker's containers are
    series = sorted(run.run_dir.glob("*/*/resources.out"))
    assert len(series) == 2 and all("cpu_percent" in f.read_text() for f in series), series


@pytest.mark.timeout(600)
def test_rules_per_destination_and_an_address_change_in_pods(k8s: Choreo) -> None:
    """tests/integration/docker's ``rules`` case on pods: 40 ms to one peer, DROP to
    another, then an address change, with the same assertions."""
    run = k8s(
        "run", "single", "--plan", str(CONTAINERS_PLAN), "--case", "rules",
        "--builder", "docker:python", "--runner", "cluster:k8s",
        timeout=500,
    )  # fmt: skip
    assert run.code == 0, str(run)
    assert run.run_dir is not None
    [record] = tagged(run.run_dir, "rules")
    check_rules_record(record)


@pytest.mark.parametrize("access", ["direct", "apiserver"])
def test_the_sync_service_in_the_cluster(k8s: Choreo, tmp_path: Path, access: str) -> None:
    """``sync_service = "cluster"``: the run's own Deployment, followed straight to its pod
    or through the API server's proxy; outcomes arrive only through it (this runner counts
    a success once published), a failure too, and nothing is left afterwards."""
    composition = tmp_path / "in-cluster.toml"
    composition.write_text(
        f"""
[global]
plan = "{OUTCOMES}"
case = "barrier"
builder = "docker:go"
runner = "cluster:k8s"
[global.run_config]
sync_service = "cluster"
sync_access = "{access}"
pod_cidr = "10.244.0.0/16"
[[groups]]
id = "single"
instances = {{ count = 20 }}
"""
    )
    run = k8s("run", "composition", "-f", str(composition), timeout=300)
    assert run.code == 0, str(run)
    assert set(run.statuses().values()) == {"success"} and len(run.statuses()) == 20
    followed = "followed https://" if access == "apiserver" else "followed http://10.244."
    assert "sync service: pod sync-service-" in run.stdout, run.stdout
    assert "(service 10.96." in run.stdout and followed in run.stdout, run.stdout
    assert "without a token" not in run.stdout  # pod_cidr narrows the tokenless networks
    failing = composition.read_text().replace('"barrier"', '"failure"').replace("20 }", "1 }")
    composition.write_text(failing)
    failed = k8s("run", "composition", "-f", str(composition), timeout=300)
    assert failed.statuses() == {"single/0": "failure"}, str(failed)
    assert "503" in failed.instances["single/0"]["error"]
