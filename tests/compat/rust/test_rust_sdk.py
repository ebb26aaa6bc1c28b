"""A plan written against Testground's Rust SDK (crate ``testground`` 0.4), taken as it is.

That SDK dials ``testground-sync-service:5050`` whatever ``SYNC_SERVICE_*`` say, and only
works with a network sidecar (``TEST_SIDECAR=true``): the plan's manifest uses
``exec:generic`` with cargo and ``sync_alias``, and the ``local:netns`` runner.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

PLAN = Path(__file__).parent / "plans" / "basic"
REPO = Path(__file__).resolve().parents[3]

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="local:netns with a sync alias needs root"),
    pytest.mark.skipif(shutil.which("cargo") is None, reason="Rust plans need cargo"),
]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("rust-home")


def _run(
    home: Path, case: str, count: int, *flags: str
) -> tuple[subprocess.CompletedProcess[str], Any]:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "choreograph.cli",
            "run",
            "single",
            "--plan",
            str(PLAN),
            "--case",
            case,
            "-i",
            str(count),
            *flags,
        ],
        env=dict(os.environ, CHOREO_HOME=str(home), COLUMNS="200", NO_COLOR="1"),
        capture_output=True,
        text=True,
        timeout=900,
        cwd=REPO,
    )
    assert (home / "runs").is_dir(), proc.stdout + proc.stderr
    runs = sorted((home / "runs").iterdir())
    record = json.loads((runs[-1] / "run.json").read_text())
    record["_dir"] = runs[-1]
    return proc, record


def test_success_messages_and_params(home: Path) -> None:
    proc, record = _run(home, "success", 2, "--tp", "greeting=ahoy")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert {o["status"] for o in record["outcome"]["instances"].values()} == {"success"}
    out = (record["_dir"] / "single" / "0" / "run.out").read_text()
    assert "ahoy, from instance" in out


def test_recorded_failure_is_a_failure(home: Path) -> None:
    proc, record = _run(home, "failure", 1)
    assert proc.returncode == 1
    (instance,) = record["outcome"]["instances"].values()
    assert instance["status"] == "failure"
    assert "the system under test answered 503" in instance["error"]


def test_publish_subscribe_and_barrier(home: Path) -> None:
    proc, record = _run(home, "pubsub", 3)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert record["builds"]["single"]["from_cache"] is True
