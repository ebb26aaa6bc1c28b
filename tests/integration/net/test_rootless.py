"""Rootless mode: ``local:netns`` without root, in a user namespace of its own.

As root, the tests take the privileges away first: ``unshare --user --map-user=1000`` runs
``choreo`` as uid 1000 with no capabilities in the host's namespaces, which is what an
unprivileged user has. As a non-root user they run ``choreo`` as it is.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from choreograph.net.rootless import rootless_problems

from .conftest import host_state, wait_until_sleeping

REPO = Path(__file__).resolve().parents[3]
HOSTS_PLAN = Path(__file__).parent / "plans" / "hosts"

if rootless_problems():
    pytest.skip(
        f"no unprivileged user namespaces here: {rootless_problems()}", allow_module_level=True
    )


def unprivileged(*args: str) -> list[str]:
    argv = [sys.executable, "-m", "choreograph.cli", *args]
    if os.geteuid() == 0:
        return ["unshare", "--user", "--map-user=1000", "--map-group=1000", *argv]
    return argv


def choreo(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        unprivileged(*args),
        env=dict(os.environ, CHOREO_HOME=str(home), COLUMNS="200", NO_COLOR="1"),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )


def test_pingpong_runs_without_privileges(tmp_path: Path) -> None:
    proc = choreo(
        tmp_path, "run", "single", "--plan", "examples/network-pingpong", "--case", "pingpong"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    outs = " ".join(p.read_text() for p in tmp_path.glob("runs/*/single/*/run.out"))
    assert "ping RTT was 2" in outs


def test_hosts_and_exec_launcher_without_privileges(tmp_path: Path) -> None:
    composition = tmp_path / "hosts.toml"
    composition.write_text(f"""
[global]
plan = "{HOSTS_PLAN}"
case = "whoami"
total_instances = 3
builder = "exec:python"
runner = "local:netns"
[global.run_config]
launcher = "exec"
[[groups]]
id = "g"
instances = {{ count = 3 }}
""")
    proc = choreo(tmp_path, "run", "composition", "-f", str(composition))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(list(tmp_path.glob("runs/*/g/*/whoami.json"))) == 3


def test_a_killed_rootless_run_leaves_nothing(tmp_path: Path) -> None:
    before = host_state()
    runner = subprocess.Popen(
        unprivileged("run", "single", "--plan", str(HOSTS_PLAN), "--case", "sleep", "-i", "2"),
        env=dict(os.environ, CHOREO_HOME=str(tmp_path)),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_sleeping(tmp_path, 2)
    finally:
        runner.send_signal(signal.SIGKILL)
        runner.wait()
    time.sleep(0.5)
    assert host_state() - before == set()
    assert not subprocess.run(["pgrep", "-f", str(HOSTS_PLAN)], capture_output=True).stdout
    assert not subprocess.run(["pgrep", "-f", "_rootless_main"], capture_output=True).stdout
