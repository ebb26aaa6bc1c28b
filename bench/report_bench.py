"""How long ``choreo report`` takes, and how big its HTML is, for a large run (prints figures).

A run folder is synthesised with the writers a real run uses: ``RunLayout`` places the
folders and writes ``run.json`` (the engine's record), the outcome comes from an
``OutcomeBook`` fed the facts a runner reports, event lines are the SDK's
``Event.to_line()``, and metric lines start with the SDK's own ``Metrics.prefix`` (the
sampler's ``resources.out`` has the same format). Timestamps are spread over a ~60 s run,
which the real writers (stamping "now") cannot do.

Each instance has a start ramp, two stages, 20-60 resource samples (CPU %, RSS), a timer,
a counter, a gauge, a histogram and a point in ``results.out`` and a gauge in
``diagnostics.out``; about 4 % fail or crash (with stderr), so the failure sections fill too.

The report is built by the ``choreo report`` command in a fresh process (imports included,
as a user waits for them). Targets at 2,000 instances: ≤ 10 s and an HTML file < 5 MB.

Run: ``python bench/report_bench.py [--instances 2000 20] [--keep DIR]``
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from choreograph.engine import RunResult, _final_fields, _record
from choreograph.plan.facts import InstanceEvent, InstanceExited
from choreograph.plan.spec import GroupSpec, RunSpec
from choreograph.results.layout import RunLayout, new_run_id
from choreograph.results.outcomes import OutcomeBook
from choreograph.sdk import Metrics
from choreograph.wire.events import Event

TARGET_SECONDS = 10.0
TARGET_BYTES = 5 * 1024 * 1024
_S = 1_000_000_000


def synthesise(runs_dir: Path, instances: int, seed: int = 1) -> RunLayout:
    """A finished run of ``instances`` instances (80 % in ``leech``, 20 % in ``seed``)."""
    rng = random.Random(seed)
    started = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    t0 = int(started.timestamp() * _S)
    layout = RunLayout(runs_dir, new_run_id(started))
    seeds = max(1, instances // 5)
    sizes = {"leech": instances - seeds, "seed": seeds}
    groups = tuple(GroupSpec(g, n, {}, "exec:python") for g, n in sizes.items())
    spec = RunSpec("bittorrent", Path("/plans/bittorrent"), "swarm", "local:exec", groups)
    book = OutcomeBook.for_groups(sizes)
    for group, count in sizes.items():
        for index in range(count):
            key = f"{group}/{index}"
            folder = layout.instance_dir(key)
            folder.mkdir(parents=True)
            for fact in _instance(folder, layout.run_id, group, key, t0, rng):
                book.apply(fact)
    # The engine's own record: what run.json holds at the end of a real run.
    result = RunResult(
        run_id=layout.run_id,
        run_dir=layout.root,
        success=book.success,
        groups=book.groups(),
        instances=list(book.instances.values()),
        seconds=63.0,  # the start ramp and the longest instance
    )
    layout.write_run_json(_record(spec, layout.run_id, started) | _final_fields(result))
    return layout


def _instance(
    folder: Path, run_id: str, group: str, key: str, t0: int, rng: random.Random
) -> list[InstanceEvent | InstanceExited]:
    """Write one instance's files; return the facts a runner would have reported."""
    begin = t0 + int(rng.uniform(0.2, 3.0) * _S)
    samples = rng.randint(20, 60)
    finish = begin + samples * _S
    fate = rng.random()
    events = [Event("start", runenv={"plan": "bittorrent", "group": group}, instance=key)]
    events += [
        Event("stage_start", name="setup", group=group, instance=key),
        Event("message", message="connected to 12 peers", instance=key),
        Event("stage_end", name="setup", group=group, instance=key),
        Event("stage_start", name="transfer", group=group, instance=key),
    ]
    stamps = [begin, begin + 1000, begin + int(0.4 * _S), begin + int(0.5 * _S)]
    stamps.append(stamps[-1] + 1000)
    terminal: Event | None = Event("success", group=group, instance=key)
    if fate < 0.03:
        error = "timed out waiting for 3 pieces"
        terminal = Event("failure", group=group, error=error, instance=key)
    elif fate < 0.04:
        terminal = None  # a crash: no outcome event, a traceback on stderr
    else:
        events.append(Event("stage_end", name="transfer", group=group, instance=key))
        stamps.append(finish - _S // 10)
    if terminal is not None:
        events.append(terminal)
        stamps.append(finish)
    lines = [
        dataclasses.replace(e, seq=n, ts=ts).to_line()
        for n, (e, ts) in enumerate(zip(events, stamps, strict=True), 1)
    ]
    (folder / "run.out").write_text("\n".join(lines) + "\n")
    (folder / "run.err").write_text(
        "" if terminal is not None else "Traceback (most recent call last):\nMemoryError\n"
    )
    results = Metrics(folder / "results.out", run_id, group, key)
    diagnostics = Metrics(folder / "diagnostics.out", run_id, group, key)
    out: list[str] = []
    ops = 0.0
    for n in range(samples):
        ts = begin + n * _S + rng.randint(0, _S // 2)
        ops += rng.randint(50, 150)
        out.append(_line(results.prefix("latency", "timer", "ms"), ts, rng.lognormvariate(3, 0.4)))
        out.append(_line(results.prefix("pieces", "counter", ""), ts, ops))
        if n % 2:
            out.append(_line(results.prefix("peers", "gauge", ""), ts, rng.randint(4, 30)))
            out.append(_line(results.prefix("chunk", "histogram", "B"), ts, rng.choice(
                (16384.0, 32768.0, rng.uniform(1, 16384)))))  # fmt: skip
    out.append(_line(results.prefix("throughput", "point", "MB/s"), finish, rng.gauss(40, 6)))
    (folder / "results.out").write_text("".join(out))
    queue = [_line(diagnostics.prefix("queue_depth", "gauge", ""), begin + n * _S,
                   rng.randint(0, 64)) for n in range(0, samples, 2)]  # fmt: skip
    (folder / "diagnostics.out").write_text("".join(queue))
    usage = Metrics(folder / "resources.out", run_id, group, key)
    rss = rng.uniform(30, 60) * 2**20
    resources = []
    for n in range(samples):
        ts = begin + (n + 1) * _S
        rss += rng.uniform(-1, 2) * 2**20
        resources.append(_line(usage.prefix("cpu_percent", "gauge", "%"), ts,
                               round(rng.uniform(5, 90), 2)))  # fmt: skip
        resources.append(_line(usage.prefix("rss_bytes", "gauge", "B"), ts, int(rss)))
    (folder / "resources.out").write_text("".join(resources))
    facts: list[InstanceEvent | InstanceExited] = []
    if terminal is not None:
        facts.append(InstanceEvent(key, terminal, "stdout"))
    facts.append(InstanceExited(key, 0 if terminal is not None else 1, "MemoryError", 0.0))
    return facts


def _line(prefix: str, ts: int, value: float) -> str:
    """One record exactly as the SDK's writer formats it."""
    return f'{prefix},"ts":{ts},"value":{value!r}}}\n'


def measure(runs_dir: Path, instances: int) -> None:
    began = time.perf_counter()
    layout = synthesise(runs_dir, instances)
    made = time.perf_counter() - began
    lines = sum(1 for p in layout.root.glob("*/*/*.out") for _ in p.open())
    target = runs_dir / f"report-{instances}.html"
    cli = [sys.executable, "-m", "choreograph.cli", "report", str(layout.root), "-o", str(target)]
    began, cpu = time.perf_counter(), _children_cpu()
    done = subprocess.run(cli, capture_output=True, text=True, check=False)
    seconds, cpu = time.perf_counter() - began, _children_cpu() - cpu
    if done.returncode != 0:
        raise SystemExit(f"choreo report failed ({done.returncode}):\n{done.stderr}")
    size = target.stat().st_size
    images = target.read_text().count("data:image/png")
    print(
        f"{instances:>6} instances ({lines:,} lines, synthesised in {made:.1f} s): "
        f"report {seconds:5.2f} s (target ≤ {TARGET_SECONDS:g} s; {cpu:.2f} s CPU)  "
        f"{size / 2**20:5.2f} MB (target < {TARGET_BYTES / 2**20:g} MB)  {images} figures"
    )


def _children_cpu() -> float:
    """CPU seconds of finished child processes: unlike wall time, barely moved by other
    work on the machine."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, nargs="+", default=[2000, 20])
    parser.add_argument("--keep", type=Path, help="write the run folders and reports here")
    args = parser.parse_args()
    runs_dir = args.keep or Path(tempfile.mkdtemp(prefix="report-bench-"))
    runs_dir.mkdir(parents=True, exist_ok=True)
    try:
        for instances in args.instances:
            measure(runs_dir, instances)
    finally:
        if args.keep is None:
            shutil.rmtree(runs_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
