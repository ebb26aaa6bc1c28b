"""A composition with a real Redis server as a supporting service, and a service that fails."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import psutil
import pytest

from .conftest import EXAMPLES, Choreo


def redis_servers_since(started: float) -> list[psutil.Process]:
    return [
        p
        for p in psutil.process_iter(["name", "create_time"])
        if p.info["name"] == "redis-server" and p.info["create_time"] >= started - 1
    ]


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs Debian's redis-server")
def test_instances_share_a_redis_service(choreo: Choreo) -> None:
    started = time.time()
    proc = choreo("run", "composition", "-f", str(EXAMPLES / "redis" / "composition.toml"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3/3" in proc.stdout
    run_dir = choreo.runs()[-1]
    for index in range(3):
        out = (run_dir / "writers" / str(index) / "run.out").read_text()
        assert "holds 300 writes from every instance" in out
    log = (run_dir / "services" / "redis.log").read_text()
    assert "Ready to accept connections" in log and "bye bye" in log  # started, then stopped
    time.sleep(0.2)
    assert redis_servers_since(started) == []  # no orphan


def test_a_service_that_fails_fails_the_run_before_any_instance(
    choreo: Choreo, tmp_path: Path
) -> None:
    comp = tmp_path / "broken.toml"
    comp.write_text(
        f'[global]\nplan = "{EXAMPLES / "redis"}"\ncase = "shared-counter"\n'
        '[[groups]]\nid = "writers"\ninstances = { count = 2 }\n'
        '[[services]]\nname = "db"\n'
        'command = ["sh", "-c", "echo loading data; echo \'cannot open /data: denied\'; exit 4"]\n'
        "ready = { tcp = 0 }\n"
    )
    proc = choreo("run", "composition", "-f", str(comp))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = " ".join(proc.stdout.split())
    assert "service db exited with status 4" in out
    assert "cannot open /data: denied" in out  # the log tail
    record = choreo.last_run()
    assert record["status"] == "failure"
    assert record["stop_reason"].startswith("service db exited with status 4")
    statuses = {v["status"] for v in record["outcome"]["instances"].values()}
    assert statuses == {"stopped"}
    run_dir = choreo.runs()[-1]
    assert not list(run_dir.glob("writers/*/run.out"))  # no instance was started
    assert (run_dir / "services" / "db.log").read_text().startswith("loading data")
