"""The sync load: one Go load generator against Choreograph's sync service and Testground's.

For each shape both services are started fresh (so no history from an earlier shape is
carried), then the shape is run ``reps`` times, alternating which service goes first, and
the median of each figure is kept. The generator reports the CPU time it and the service
(from /proc) spent in the measured part of each run (connections made, before they close);
both are printed per shape so that a reader can see which side was the bottleneck.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .processes import Processes, free_port, port_in_use, wait_listening
from .table import Row, Target

GO_SERVICE_PORT = 5050  # testground/sync-service v0.1.0 has no flag for it
SIDES = ("choreograph", "testground")


@dataclass(frozen=True)
class Shape:
    name: str
    args: list[str]  # loadgen command and flags, without -url and -tag
    figures: dict[str, tuple[str, Callable[[dict[str, Any]], float]]]  # row -> (unit, read)
    targets: dict[str, Target] = field(default_factory=dict)


def _throughput(op: str, clients: int, window: int, seconds: float) -> Shape:
    who = "1 client" if clients == 1 else f"{clients} clients"
    name = f"{op} throughput, {who} x {window} in flight"
    args = ["throughput", "-op", op, "-clients", str(clients)]
    args += ["-window", str(window), "-seconds", str(seconds)]
    return Shape(
        name,
        args,
        {name: ("ops/s", lambda r: float(r["ops_s"]))},
        {name: Target(1.0, at_least=True, on_ratio=True)},
    )


def shapes(quick: bool, window: int) -> list[Shape]:
    seconds = 1.0 if quick else 3.0
    messages = 100 if quick else 1000
    found = [
        _throughput(op, clients, win, seconds)
        for op in ("signal_entry", "publish")
        for clients in (1, 100)
        for win in (1, window)
    ]
    found.append(
        Shape(
            "barrier",
            ["barrier", "-waiters", "1000", "-rounds", "1"],
            {
                "barrier release p50, 1,000 waiters": ("ms", lambda r: r["latency_ms"]["p50"]),
                "barrier release p99, 1,000 waiters": ("ms", lambda r: r["latency_ms"]["p99"]),
            },
            {"barrier release p99, 1,000 waiters": Target(20, False, on_ratio=False, unit="ms")},
        )
    )
    fan = f"fan-out 1,000 subscribers x {messages:,} messages"
    found.append(
        Shape(
            "fan-out",
            ["fanout", "-subscribers", "1000", "-messages", str(messages)],
            {
                fan: ("s", lambda r: float(r["fanout_s"])),
                "  publish ack p50 during fan-out": ("ms", lambda r: r["ack_ms"]["p50"]),
                "  publish ack p99 during fan-out": ("ms", lambda r: r["ack_ms"]["p99"]),
            },
            {fan: Target(1.0, at_least=False, on_ratio=True)},
        )
    )
    return found


class SyncBench:
    def __init__(self, procs: Processes, go_service: Path, loadgen: Path, logs: Path) -> None:
        self.procs = procs
        self.go_service = go_service
        self.loadgen = loadgen
        self.logs = logs
        self.gen_cpu_peak = 0.0  # highest share of one core the generator used in any run

    def _start(self, side: str) -> tuple[subprocess.Popen[bytes], int]:
        if side == "testground":
            if port_in_use(GO_SERVICE_PORT):
                raise RuntimeError(f"port {GO_SERVICE_PORT} (Testground's sync service) is taken")
            argv, port = [str(self.go_service)], GO_SERVICE_PORT
        else:
            port = free_port()
            argv = [sys.executable, "-m", "choreograph.sync_service", "--port", str(port)]
        proc = self.procs.start(argv, self.logs / f"sync-{side}.log")
        wait_listening(port, proc)
        return proc, port

    def _load(
        self, service: subprocess.Popen[bytes], port: int, tag: str, args: list[str]
    ) -> dict[str, Any]:
        argv = [str(self.loadgen), args[0], "-url", f"ws://127.0.0.1:{port}", "-tag", tag]
        argv += ["-pid", str(service.pid)]
        proc = subprocess.run(
            argv + args[1:], capture_output=True, text=True, timeout=900, check=False
        )
        if proc.returncode != 0:
            raise RuntimeError(f"loadgen {' '.join(args)}: {proc.stderr.strip()}")
        result: dict[str, Any] = json.loads(proc.stdout)
        return result

    def run_shape(self, shape: Shape, reps: int) -> dict[str, list[dict[str, Any]]]:
        results: dict[str, list[dict[str, Any]]] = {side: [] for side in SIDES}
        started: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
        try:
            for side in SIDES:
                started[side] = self._start(side)
            warm = ["throughput", "-clients", "10", "-seconds", "0.3"]
            for proc, port in started.values():  # warm-up: first connections, first allocations
                self._load(proc, port, "warm", warm)
            for rep in range(reps):
                for side in SIDES if rep % 2 == 0 else SIDES[::-1]:
                    proc, port = started[side]
                    result = self._load(proc, port, f"r{rep}", shape.args)
                    share = result["phase_gen_cpu_s"] / max(result["phase_wall_s"], 1e-9)
                    self.gen_cpu_peak = max(self.gen_cpu_peak, share)
                    results[side].append(result)
        finally:
            for proc, _ in started.values():
                self.procs.stop(proc)
        return results


def _median(values: list[float]) -> float:
    return statistics.median(values)


def rows_for(shape: Shape, results: dict[str, list[dict[str, Any]]]) -> list[Row]:
    rows = []
    for name, (unit, read) in shape.figures.items():
        ours = _median([read(r) for r in results["choreograph"]])
        theirs = _median([read(r) for r in results["testground"]])
        rows.append(Row(name, unit, ours, theirs, shape.targets.get(name)))
    return rows


def missing_rows(shape: Shape, reason: str) -> list[Row]:
    return [
        Row(name, unit, None, None, shape.targets.get(name), reason)
        for name, (unit, _) in shape.figures.items()
    ]


def cpu_line(shape: Shape, results: dict[str, list[dict[str, Any]]]) -> str:
    """Per side: the service's and the generator's CPU in the measured part of the runs, as
    shares of one core (the Go service may use both cores, so it can exceed 100 %)."""
    parts = []
    for side in SIDES:
        runs = results[side]
        svc = _median([r["phase_svc_cpu_s"] / r["phase_wall_s"] for r in runs])
        gen = _median([r["phase_gen_cpu_s"] / r["phase_wall_s"] for r in runs])
        parts.append(f"{side} service {svc:4.0%}, generator {gen:4.0%}")
    return f"  {shape.name}: " + "; ".join(parts) + " of one core"
