"""``local:netns`` samples each instance's CPU and memory from its cgroup, as ``local:exec``
does (``resources.out``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import choreo

pytestmark = pytest.mark.root

PLAN = """
import time
from choreograph.sdk import invoke_map

def burn(runenv):
    end = time.monotonic() + 2.0
    while time.monotonic() < end:
        pass

if __name__ == "__main__":
    invoke_map({"burn": burn})
"""

MANIFEST = """
name = "burn"
[defaults]
builder = "exec:python"
runner = "local:netns"
[builders."exec:python"]
entry = "main.py"
[runners."local:netns"]
sample_interval = "250ms"
[[testcases]]
name = "burn"
instances = { min = 1, max = 4, default = 2 }
"""


def test_instances_are_sampled_under_local_netns(tmp_path: Path) -> None:
    plan = tmp_path / "burn"
    plan.mkdir()
    (plan / "manifest.toml").write_text(MANIFEST)
    (plan / "main.py").write_text(PLAN)
    home = tmp_path / "home"
    proc = choreo(home, "run", "single", "--plan", str(plan), "--case", "burn", "-i", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for index in ("0", "1"):
        out = next(home.glob(f"runs/*/single/{index}/resources.out"))
        records = [json.loads(line) for line in out.read_text().splitlines()]
        cpu = [r["value"] for r in records if r["name"] == "cpu_percent"]
        rss = [r["value"] for r in records if r["name"] == "rss_bytes"]
        assert len(cpu) >= 3, records
        assert max(cpu) > 20, cpu  # a busy loop, even sharing 2 cores with its twin
        assert min(rss) > 0, rss
