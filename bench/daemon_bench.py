"""What the daemon costs: submit-to-first-instance latency through it against an
embedded run of the same plan, listing tasks with 10,000 in the store, and how fast it
streams a run's log.

Usage: python3 bench/daemon_bench.py [--repeat 5] [--instances 5] [--tasks 10000]
    [--log-lines 200000]

A daemon is started as a subprocess on a free port with a temporary home; the embedded
runs use the same home (so both start from a warm build cache).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from choreograph import progress
from choreograph.config import Settings
from choreograph.daemon.client import DaemonClient
from choreograph.daemon.schemas import TaskRequest
from choreograph.daemon.tasks import TaskStore, new_task_id
from choreograph.engine import RunOptions, execute
from choreograph.plan import load_manifest, resolve_single

PLAN = Path(__file__).resolve().parents[1] / "examples" / "sync"


def start_daemon(home: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "choreograph.cli", "daemon", "--listen", f"127.0.0.1:{port}"],
        env=dict(os.environ, CHOREO_HOME=str(home)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(f"{url}/api/health", timeout=1)
            return proc, url
        except httpx.TransportError:
            time.sleep(0.05)
    raise SystemExit("the daemon did not start")


def embedded_latency(home: Path, instances: int) -> float:
    """Seconds from calling the engine to the first InstanceStarted."""
    manifest = load_manifest(PLAN / "manifest.toml")
    spec = resolve_single(
        manifest, PLAN, case="all", instances=instances, test_params={},
        builder=None, runner=None, manifest_file=str(PLAN / "manifest.toml"),
    )  # fmt: skip
    first: list[float] = []

    def sink(event: progress.ProgressEvent) -> None:
        if isinstance(event, progress.InstanceStarted) and not first:
            first.append(time.perf_counter())

    t0 = time.perf_counter()
    asyncio.run(execute(spec, Settings(home=home), RunOptions(), sink))
    return first[0] - t0


def daemon_latency(client: DaemonClient, instances: int) -> float:
    """Seconds from submitting (upload included) to the first InstanceStarted event."""
    t0 = time.perf_counter()
    task_id = client.submit(TaskRequest(case="all", instances=instances), PLAN)
    seen = None
    for event, data in client.events(task_id):
        if seen is None and event == "progress" and data["type"] == "InstanceStarted":
            seen = time.perf_counter()
    assert seen is not None, "no instance started"
    return seen - t0


def fill_store(home: Path, count: int) -> None:
    store = TaskStore(home / "daemon" / "tasks.sqlite")
    request = TaskRequest(case="all")
    for n in range(count):
        task_id = new_task_id() + f"-{n}"
        store.add(task_id, request, f"plan-{n % 7}", "all", "local")
        if n % 3:
            store.finish(task_id, "complete", "success", 0)


def timed_get(url: str, params: dict[str, str], repeat: int = 20) -> float:
    with httpx.Client(base_url=url) as http:
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            http.get("/api/tasks", params=params).raise_for_status()
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def fake_finished_run(home: Path, lines: int) -> str:
    """A task whose run folder holds one instance with ``lines`` log lines."""
    store = TaskStore(home / "daemon" / "tasks.sqlite")
    task_id, run_id = new_task_id(), "20000101-000000-000bench"
    store.add(task_id, TaskRequest(case="all"), "bench", "all", "local")
    store.set_run(task_id, run_id)
    store.finish(task_id, "complete", "success", 0)
    run = home / "runs" / run_id
    (run / "single" / "0").mkdir(parents=True)
    spec = {"spec": {"groups": [{"id": "single", "instances": 1}]}, "status": "success"}
    (run / "run.json").write_text(json.dumps(spec))
    with (run / "single" / "0" / "run.out").open("w") as out:
        for n in range(lines):
            event = {"event": {"message_event": {"message": f"line {n}"}}, "seq": n + 1}
            out.write(json.dumps({"ts": 1_700_000_000_000_000_000 + n, **event}) + "\n")
    return task_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--instances", type=int, default=5)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--log-lines", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        proc, url = start_daemon(home)
        try:
            client = DaemonClient(url)
            embedded_latency(home, args.instances)  # warm the build cache
            emb = [embedded_latency(home, args.instances) for _ in range(args.repeat)]
            dae = [daemon_latency(client, args.instances) for _ in range(args.repeat)]
            e, d = statistics.median(emb), statistics.median(dae)
            print(f"submit → first instance, {args.instances} instances, median of {args.repeat}:")
            print(f"  embedded {e * 1000:8.1f} ms")
            print(f"  daemon   {d * 1000:8.1f} ms   ratio {d / e:.2f}x")

            t0 = time.perf_counter()
            fill_store(home, args.tasks)
            print(f"store: {args.tasks} tasks added in {time.perf_counter() - t0:.1f} s")
            page = httpx.get(f"{url}/api/tasks", params={"limit": "50"}).json()
            for label, params in [
                ("newest 50", {"limit": "50"}),
                ("state=complete", {"state": "complete", "limit": "50"}),
                ("plan=plan-3", {"plan": "plan-3", "limit": "50"}),
                ("page 2 (before)", {"limit": "50", "before": page["next_before"]}),
                ("1000 at once", {"limit": "1000"}),
            ]:
                print(f"  GET /api/tasks {label:18} {timed_get(url, params) * 1000:7.1f} ms")

            task_id = fake_finished_run(home, args.log_lines)
            t0 = time.perf_counter()
            count = sum(1 for event, _ in client.logs(task_id) if event == "line")
            seconds = time.perf_counter() - t0
            print(
                f"log streaming: {count} lines in {seconds:.2f} s = {count / seconds:,.0f} lines/s"
            )
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
