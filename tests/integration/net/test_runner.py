"""The ``local:netns`` runner end to end, through the CLI as a user types it: the examples,
one host per instance, 100 instances at a barrier, and cleanup after a SIGKILL."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from choreograph.net.addresses import DATA_IFNAME

from .conftest import choreo, host_state, wait_until_sleeping

pytestmark = pytest.mark.root
REPO = Path(__file__).resolve().parents[3]
PLANS = Path(__file__).parent / "plans"
HOSTS_PLAN = PLANS / "hosts"


def last_run(home: Path) -> Path:
    return sorted((home / "runs").iterdir())[-1]


def messages(run_dir: Path) -> list[str]:
    """Every message event of the run's instances (lines that are not events are skipped:
    a pod's log, cluster:k8s's run.out, also holds its stderr)."""
    found = []
    for out in sorted(run_dir.glob("*/*/run.out")):
        for line in out.read_text().splitlines():
            try:
                event = json.loads(line).get("event", {})
            except (ValueError, AttributeError):
                continue
            if "message_event" in event:
                found.append(event["message_event"]["message"])
    return found


def test_network_pingpong_example(tmp_path: Path) -> None:
    proc = choreo(
        tmp_path, "run", "single", "--plan", "examples/network-pingpong", "--case", "pingpong"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rtts = [
        float(m)
        for text in messages(last_run(tmp_path))
        for m in re.findall(r"ping RTT was ([\d.]+) ms \[200", text)
    ]
    assert len(rtts) == 2 and all(200 <= rtt <= 250 for rtt in rtts)


def test_partition_example(tmp_path: Path) -> None:
    proc = choreo(
        tmp_path, "run", "single", "--plan", "examples/partition", "--case", "partition", "-i", "6"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sum("partition held" in m for m in messages(last_run(tmp_path))) == 6


@pytest.mark.parametrize("launcher", ["fork", "exec"])
def test_every_instance_is_a_host(tmp_path: Path, launcher: str) -> None:
    composition = tmp_path / "hosts.toml"
    composition.write_text(f"""
[metadata]
name = "hosts"
[global]
plan = "{HOSTS_PLAN}"
case = "whoami"
total_instances = 4
builder = "exec:python"
runner = "local:netns"
[global.run_config]
launcher = "{launcher}"
[[groups]]
id = "left"
instances = {{ count = 2 }}
[[groups]]
id = "right"
instances = {{ count = 2 }}
""")
    proc = choreo(tmp_path, "run", "composition", "-f", str(composition))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    records = [
        json.loads(p.read_text()) for p in sorted(last_run(tmp_path).glob("*/*/whoami.json"))
    ]
    assert [r["hostname"] for r in records] == ["left-0", "left-1", "right-0", "right-1"]
    assert all(r["env_hostname"] == r["hostname"] and r["sidecar"] for r in records)
    subnets = {r["subnet"] for r in records}
    assert len(subnets) == 1
    ips = {r["data_ip"] for r in records}
    assert len(ips) == 4 and all(r["interfaces"][DATA_IFNAME] == r["data_ip"] for r in records)
    assert all(r["interfaces"]["lo"] == "127.0.0.1" for r in records)
    assert all(r["sync_host"] != "0.0.0.0" for r in records)
    forked = ["_forkserver_main" in r["parent"] for r in records]
    assert forked == [launcher == "fork"] * 4


@pytest.fixture(scope="module")
def shared_home(tmp_path_factory: pytest.TempPathFactory, shared_builds: Path) -> Path:
    """One home for the SDK plans, its builds the session's: npm ci and go build happen
    once per session, before the tests (tests/prebuild.py)."""
    home = tmp_path_factory.mktemp("netns-sdk-home")
    (home / "builds").symlink_to(shared_builds, target_is_directory=True)
    return home


def _sdk_plan(plan: str, tools: tuple[str, ...]) -> object:
    build = pytest.mark.prebuilt("single", "--plan", str(PLANS / plan), tools=tools)
    return pytest.param(plan, tools, marks=build, id=plan)


@pytest.mark.parametrize(
    ("plan", "tools"), [_sdk_plan("js-network", ("node", "npm")), _sdk_plan("go-network", ("go",))]
)
def test_testground_sdk_network_clients(
    shared_home: Path, plan: str, tools: tuple[str, ...]
) -> None:
    """sdk-js 0.1.2 and sdk-go as Testground plans pin them: configure, change IP, ping."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{missing} not installed: .ci/run must install it")
        pytest.skip(f"{', '.join(missing)} not installed")
    proc = choreo(
        shared_home,
        "run",
        "single",
        "--plan",
        str(PLANS / plan),
        "--case",
        "shaped-ping",
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = " ".join(p.read_text() for p in last_run(shared_home).glob("*/*/run.out"))
    rtt = re.search(r"udp rtt ([\d.]+)(ms| ms)", text)
    assert rtt and 100 <= float(rtt.group(1)) <= 115


def test_a_hundred_instances_pass_a_barrier(tmp_path: Path) -> None:
    started = time.monotonic()
    proc = choreo(
        tmp_path,
        "run",
        "single",
        "--plan",
        "examples/sync",
        "--case",
        "barrier",
        "-i",
        "100",
        "--runner",
        "local:netns",
        "--tp",
        "rounds=3",
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "100/100" in proc.stdout
    print(f"100 instances under local:netns: {time.monotonic() - started:.1f} s")


def kill_a_sleeping_run(home: Path, instances: int) -> set[str]:
    """Start a run whose instances sleep, SIGKILL the runner once they all have started,
    and return what it left on the host."""
    before = host_state()
    runner = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "choreograph.cli",
            "run",
            "single",
            "--plan",
            str(HOSTS_PLAN),
            "--case",
            "sleep",
            "-i",
            str(instances),
        ],
        env=dict(os.environ, CHOREO_HOME=str(home)),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_sleeping(home, instances)
    finally:
        runner.send_signal(signal.SIGKILL)
        runner.wait()
    time.sleep(0.5)  # PDEATHSIG: instances and the switch die with the runner
    return host_state() - before


def test_sigkill_of_the_runner_leaves_only_what_healthcheck_removes(tmp_path: Path) -> None:
    before = host_state()
    leftover = kill_a_sleeping_run(tmp_path, 3)
    assert not any(item.startswith("process") for item in leftover)
    assert not subprocess.run(["pgrep", "-f", str(HOSTS_PLAN)], capture_output=True).stdout
    assert any(item.startswith("netns") for item in leftover)  # namespaces outlive processes

    report = choreo(tmp_path, "healthcheck")
    assert report.returncode == 1 and "leftovers of dead runs" in report.stdout
    fixed = choreo(tmp_path, "healthcheck", "--fix")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert host_state() - before == set()
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout
    assert "choreo-" not in listed and not any(line.startswith("ch") for line in links.splitlines())


def test_a_new_run_sweeps_a_dead_run(tmp_path: Path) -> None:
    before = host_state()
    assert kill_a_sleeping_run(tmp_path, 2), "the killed run left nothing to sweep"
    proc = choreo(
        tmp_path, "run", "single", "--plan", str(HOSTS_PLAN), "--case", "whoami", "-i", "1"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert host_state() - before == set()
