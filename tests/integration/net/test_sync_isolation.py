"""The run's sync service belongs to its run under ``local:netns`` (hardening item 10): it
listens on the run's control gateway only, never on every address, and an outcome published
from outside the run, or by one instance for another, does not count."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from choreograph.wire.topics import run_events_key

pytestmark = pytest.mark.root
REPO = Path(__file__).resolve().parents[3]

# Every instance says where its sync service is, then waits at a barrier nobody can pass.
PLAN = """
import json, os
from choreograph.sdk import invoke_map

def stuck(runenv, ctx):
    where = {"host": os.environ["SYNC_SERVICE_HOST"], "port": os.environ["SYNC_SERVICE_PORT"],
             "run": runenv.test_run, "plan": runenv.test_plan, "case": runenv.test_case}
    (runenv.outputs_path / "sync.json").write_text(json.dumps(where))
    ctx.sync_client.signal_and_wait("never", runenv.test_instance_count + 1)

if __name__ == "__main__":
    invoke_map({"stuck": stuck})
"""

MANIFEST = """
name = "stuck"
[defaults]
builder = "exec:python"
runner = "local:netns"
[builders."exec:python"]
entry = "main.py"
[runners."local:netns"]
[[testcases]]
name = "stuck"
instances = { min = 1, max = 10, default = 2 }
"""


def _listeners(pid: int) -> list[str]:
    out = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True).stdout
    return [line.split()[3] for line in out.splitlines() if f"pid={pid}," in line]


def _forged(where: dict[str, str], instance: str) -> str:
    # What an SDK publishes on run_events: the event object itself (sdk-go names only the
    # group; Choreograph's SDK adds the instance).
    payload = {"success_event": {"group": "single"}, **({"instance": instance} if instance else {})}
    topic = run_events_key(where["run"], where["plan"], where["case"])
    return json.dumps({"id": instance or "x", "publish": {"topic": topic, "payload": payload}})


async def _publish_forged(where: dict[str, str]) -> None:
    async with connect(f"ws://{where['host']}:{where['port']}") as ws:
        for instance in ("single/0", "single/1", ""):
            await ws.send(_forged(where, instance))
            answer = json.loads(await ws.recv())
            assert answer.get("error", "") == "", answer  # accepted by the service, ...


def test_outsiders_cannot_decide_outcomes_and_the_service_is_not_on_every_address(
    tmp_path: Path,
) -> None:
    plan = tmp_path / "stuck"
    plan.mkdir()
    (plan / "manifest.toml").write_text(MANIFEST)
    (plan / "main.py").write_text(PLAN)
    home = tmp_path / "home"
    proc = subprocess.Popen(
        [sys.executable, "-m", "choreograph.cli", "run", "single", "--plan", str(plan),
         "--case", "stuck", "-i", "2", "--timeout", "12"],
        env=dict(os.environ, CHOREO_HOME=str(home), COLUMNS="200", NO_COLOR="1"),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        files: list[Path] = []
        while time.monotonic() < deadline and len(files) < 2:
            files = sorted(home.glob("runs/*/single/*/sync.json"))
            time.sleep(0.1)
        assert len(files) == 2, "the instances did not start"
        where = json.loads(files[0].read_text())
        listening = _listeners(proc.pid)
        assert listening, "no listener found for the run"
        assert all(not a.startswith(("0.0.0.0:", "*:", "[::]:")) for a in listening), listening
        assert f"{where['host']}:{where['port']}" in listening
        # From this host, outside the run: the service answers, but nothing it says counts.
        asyncio.run(_publish_forged(where))
        output, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    record = json.loads(sorted(home.glob("runs/*/run.json"))[-1].read_text())
    statuses = {k: o["status"] for k, o in record["outcome"]["instances"].items()}
    assert statuses == {"single/0": "stopped", "single/1": "stopped"}, (statuses, output)
    assert "no instance of this run: ignored" in output, output
