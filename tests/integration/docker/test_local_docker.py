"""The ``local:docker`` runner end to end, through the CLI as a user types it, beside
``local:netns`` (and ``local:exec``) where they should agree: shaped ping-pong, rules and
address changes in containers, every instance a host with its run folder where
``local:exec`` puts it, ``additional_hosts``, an isolated control network, timeouts,
``keep_containers``, resource limits, cleanup after a SIGKILL, and the manifest defaults
with Docker up and down.

Plans are built by ``docker:python`` (``exec:python`` for the side-by-side runs), once
per module (``module_builds``). Timings are only checked from below (a shaped delay is
never early), or against a control measured in the same run.
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.compat.conftest import REPO, Choreo, Run
from tests.integration.net.conftest import host_state, wait_until_sleeping

from .conftest import (
    CONTAINERS_PLAN,
    NEEDS,
    check_rules_record,
    docker,
    labelled,
    messages,
    namespaces_of,
    pingpong_rtts,
    remove_labelled,
    tagged,
)

pytestmark = NEEDS
MIB = 1024**2


def composition(
    tmp_path: Path,
    case: str,
    groups: dict[str, int],
    *,
    run_config: str = "",
    resources: str = "",
    params: str = "",
    builder: str = "docker:python",
    runner: str = "local:docker",
) -> str:
    """A composition file of the containers plan; its path."""
    path = tmp_path / f"{case}-{len(list(tmp_path.glob('*.toml')))}.toml"
    text = f"""
[metadata]
name = "{case}"
[global]
plan = "{CONTAINERS_PLAN}"
case = "{case}"
total_instances = {sum(groups.values())}
builder = "{builder}"
runner = "{runner}"
[global.run_config]
{run_config}
[global.run.test_params]
{params}
"""
    for group, count in groups.items():
        text += f'[[groups]]\nid = "{group}"\ninstances = {{ count = {count} }}\n'
        if resources:
            text += f"[groups.resources]\n{resources}\n"
    path.write_text(text)
    return str(path)


def start(home: Path, *args: str) -> subprocess.Popen[bytes]:
    """``choreo ARGS…`` in the background, as ``Choreo`` runs it."""
    return subprocess.Popen(
        [sys.executable, "-m", "choreograph.cli", *args],
        env=dict(os.environ, CHOREO_HOME=str(home), COLUMNS="200", NO_COLOR="1"),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def the_run(home: Path) -> Path:
    """The one run folder of ``home``, once it exists."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        runs = sorted((home / "runs").glob("*/run.json")) if (home / "runs").exists() else []
        if runs:
            return runs[-1].parent
        time.sleep(0.1)
    pytest.fail("no run folder appeared")


def inspect(ids: list[str]) -> list[dict[str, object]]:
    done = docker("inspect", *ids)
    assert done.returncode == 0, done.stderr
    found: list[dict[str, object]] = json.loads(done.stdout)
    return found


def containers_of(run_id: str) -> list[str]:
    return [item.split()[1] for item in labelled(run_id) if item.startswith("container ")]


@pytest.mark.timeout(900)
@pytest.mark.parametrize(
    ("builder", "runner"),
    [("exec:python", "local:netns"), ("docker:python", "local:docker")],
    ids=["netns", "docker"],
)
def test_network_pingpong_keeps_its_rtt_window(choreo: Choreo, builder: str, runner: str) -> None:
    """examples/network-pingpong checks its own windows (200-250 ms over two 100 ms links,
    then 20-35 ms over 10 ms ones), on both runners."""
    run = choreo(
        "run",
        "single",
        "--plan",
        str(REPO / "examples" / "network-pingpong"),
        "--case",
        "pingpong",
        "--builder",
        builder,
        "--runner",
        runner,
        timeout=800,
    )
    assert run.code == 0, str(run)
    assert run.record["spec"]["runner"] == runner
    assert run.run_dir is not None
    rtts = pingpong_rtts(run.run_dir)
    assert len(rtts) == 2 and all(rtt >= 200 for rtt in rtts), rtts


@pytest.mark.timeout(600)
def test_rules_and_an_address_change_inside_containers(choreo: Choreo) -> None:
    run = choreo("run", "single", "--plan", str(CONTAINERS_PLAN), "--case", "rules", timeout=500)
    assert run.code == 0, str(run)
    assert run.run_dir is not None
    [record] = tagged(run.run_dir, "rules")
    check_rules_record(record)


@pytest.mark.timeout(900)
def test_every_container_is_a_host_with_its_run_folder(choreo: Choreo, tmp_path: Path) -> None:
    groups = {"left": 2, "right": 1}
    run = choreo("run", "composition", "-f", composition(tmp_path, "whoami", groups), timeout=800)
    assert run.code == 0, str(run)
    assert run.run_dir is not None
    keys = ["left/0", "left/1", "right/0"]
    records = [json.loads((run.run_dir / key / "whoami.json").read_text()) for key in keys]
    assert [r["hostname"] for r in records] == ["left-0", "left-1", "right-0"]
    assert all(r["env_hostname"] == r["hostname"] and r["sidecar"] for r in records)
    assert all(r["outputs_path"] == "/outputs" for r in records)
    [subnet] = {r["subnet"] for r in records}
    data_ips = [r["interfaces"]["eth1"] for r in records]
    assert data_ips == [r["data_ip"] for r in records] and len(set(data_ips)) == 3
    data = ipaddress.ip_network(subnet)
    assert all(ipaddress.ip_address(ip) in data for ip in data_ips)
    controls = [ipaddress.ip_address(r["interfaces"]["eth0"]) for r in records]
    assert len(set(controls)) == 3 and not any(ip in data for ip in controls)
    assert all(set(r["interfaces"]) == {"lo", "eth0", "eth1"} for r in records)
    for r, control in zip(records, controls, strict=True):
        sync = ipaddress.ip_address(r["sync_host"])  # reached over eth0, outside the data net
        assert sync not in data and sync != control
    for key in keys:  # resources sampled from the container: its 48 MiB are seen
        samples = [json.loads(line) for line in (run.run_dir / key / "resources.out").open()]
        rss = [s["value"] for s in samples if s["name"] == "rss_bytes"]
        assert len(rss) >= 2 and max(rss) >= 48 * MIB, rss

    # local:exec, the same composition: the same files in the same places
    exec_run = choreo(
        "run",
        "composition",
        "-f",
        composition(tmp_path, "whoami", groups, builder="exec:python", runner="local:exec"),
        timeout=300,
    )
    assert exec_run.code == 0, str(exec_run)
    assert exec_run.run_dir is not None

    def layout(run_dir: Path) -> set[str]:
        return {str(p.relative_to(run_dir)) for p in run_dir.glob("*/*/*") if p.is_file()}

    assert layout(run.run_dir) == layout(exec_run.run_dir)


@pytest.mark.timeout(600)
def test_additional_hosts_are_reached_by_name(
    choreo: Choreo, tmp_path: Path, helper_container: str
) -> None:
    file = composition(
        tmp_path,
        "fetch",
        {"single": 2},
        run_config=f'additional_hosts = ["{helper_container}"]',
    )
    run = choreo("run", "composition", "-f", file, "--fail-fast", "--timeout", "300", timeout=500)
    assert run.run_dir is not None
    fetched = [m for m in messages(run.run_dir) if m.startswith("fetched ")]
    assert run.code == 0 and fetched == ['fetched "ok"'] * 2, str(run)
    # the helper leaves the run's control network with the run
    networks = inspect([helper_container])[0]["NetworkSettings"]["Networks"]  # type: ignore[index]
    assert list(networks) == ["bridge"]


@pytest.mark.timeout(600)
def test_instances_do_not_reach_each_other_over_the_control_network(choreo: Choreo) -> None:
    run = choreo(
        "run", "single", "--plan", str(CONTAINERS_PLAN), "--case", "isolation", timeout=500
    )
    assert run.code == 0, str(run)
    assert run.run_dir is not None
    records = tagged(run.run_dir, "isolation")
    assert len(records) == 2
    for record in records:
        (control_s, control_error), (data_s, seen) = record["control"], record["data"]
        assert control_s is None, record  # eth0 → the other's eth0: refused or unreachable
        assert "Errno" in control_error or "timed out" in control_error, record
        assert data_s is not None and seen == record["mine"]["eth1"], record


@pytest.mark.timeout(600)
def test_timeout_stops_the_containers_and_limits_reach_them(choreo: Choreo, tmp_path: Path) -> None:
    file = composition(tmp_path, "sleep", {"single": 2}, resources='memory = "64Mi"')
    runner = start(choreo.home, "run", "composition", "-f", file, "--timeout", "120")
    try:
        wait_until_sleeping(choreo.home, 2, timeout=110)
        run_id = the_run(choreo.home).name
        ids = containers_of(run_id)
        assert len(ids) == 2
        for info in inspect(ids):
            assert info["HostConfig"]["Memory"] == 64 * MIB  # type: ignore[index]
            assert info["State"]["Running"]  # type: ignore[index]
        assert runner.wait(timeout=300) != 0
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
    record = json.loads((the_run(choreo.home) / "run.json").read_text())
    statuses = {key: o["status"] for key, o in record["outcome"]["instances"].items()}
    assert statuses == {"single/0": "stopped", "single/1": "stopped"}, record["outcome"]
    assert labelled(run_id) == [] and namespaces_of(run_id) == []


@pytest.mark.timeout(600)
def test_a_memory_limit_holds_in_the_container(choreo: Choreo, tmp_path: Path) -> None:
    """96 MiB held under a 64 MiB limit: the kernel kills the instance (the 48 MiB of
    the unlimited whoami runs are the control)."""
    file = composition(
        tmp_path, "whoami", {"single": 1}, resources='memory = "64Mi"', params='hold_mib = "96"'
    )
    run = choreo("run", "composition", "-f", file, timeout=500)
    assert run.code == 1, str(run)
    assert run.instances["single/0"]["returncode"] == 137, run.instances


@pytest.mark.timeout(600)
def test_keep_containers_keeps_them(choreo: Choreo, tmp_path: Path) -> None:
    file = composition(
        tmp_path,
        "whoami",
        {"single": 2},
        run_config="keep_containers = true",
        resources='memory = "64Mi"',
        params='hold_mib = "0"',
    )
    run = choreo("run", "composition", "-f", file, timeout=500)
    assert run.run_dir is not None
    run_id = run.run_dir.name
    try:
        assert run.code == 0, str(run)
        ids = containers_of(run_id)
        assert len(ids) == 2, f"kept: {ids}"
        for info in inspect(ids):
            assert info["HostConfig"]["Memory"] == 64 * MIB  # type: ignore[index]
            assert not info["State"]["Running"]  # type: ignore[index]
        assert namespaces_of(run_id) == []
    finally:
        remove_labelled(run_id)


@pytest.mark.timeout(600)
def test_sigkill_leaves_what_healthcheck_fix_removes(choreo: Choreo) -> None:
    before = host_state()
    runner = start(choreo.home, "run", "single", "--plan", str(CONTAINERS_PLAN), "--case", "sleep")
    try:
        wait_until_sleeping(choreo.home, 2, timeout=300)
    finally:
        runner.send_signal(signal.SIGKILL)
        runner.wait()
    run_id = the_run(choreo.home).name
    time.sleep(0.5)  # PDEATHSIG: the switch dies with the runner
    left = labelled(run_id)
    assert sum(item.startswith("container") for item in left) == 2, left
    assert sum(item.startswith("network") for item in left) == 1, left
    assert namespaces_of(run_id), "the containers' namespace names outlive the runner"

    report = choreo("healthcheck", timeout=300)
    assert report.code == 1 and run_id in report.stdout, str(report)
    fixed = choreo("healthcheck", "--fix", timeout=300)
    assert fixed.code == 0, str(fixed)
    assert labelled(run_id) == [] and namespaces_of(run_id) == []
    assert host_state() - before == set()


@pytest.mark.timeout(600)
def test_the_manifest_defaults_with_docker_up_then_down(
    choreo: Choreo, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = choreo("run", "single", "--plan", str(CONTAINERS_PLAN), "--case", "whoami", timeout=500)
    assert run.code == 0, str(run)
    spec = run.record["spec"]
    assert spec["runner"] == "local:docker"
    assert {g["builder"] for g in spec["groups"]} == {"docker:python"}

    monkeypatch.setenv("CHOREO_DOCKER", "/nonexistent")  # no docker command
    down: Run = choreo("run", "single", "--plan", str(CONTAINERS_PLAN), "--case", "whoami")
    assert down.code == 4, str(down)
    said = down.stdout + down.stderr
    assert "docker:python and local:docker need Docker" in said, str(down)
    assert "sudo systemctl start docker" in said, str(down)  # how to start it
    assert "--builder exec:python --runner local:netns" in said, str(down)  # what else works
