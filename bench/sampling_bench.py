"""Resource sampling at scale: N idle instances read by the real sampler for ~15 s.

Usage: python3 bench/sampling_bench.py [--instances 2000] [--seconds 15] [--interval 1]
       [--mode cgroup|tree|both] [--slots N]

Starts N idle processes (``sleep``) the way the runner does: in ``cgroup`` mode each joins
its own cgroup cell (:class:`RunContainment`, as root) before exec; in ``tree`` mode there
are no cgroups (as for a runner that may not make them) and the sampler walks process trees
in one scan of ``/proc`` per interval, which replaced its per-instance psutil calls. Then
:meth:`ResourceSampler.run` samples them on an event loop for ``--seconds`` while a probe
measures how late the loop wakes up, and the ``resources.out`` files are read back.

Printed, with the targets beside them: samples per instance, how soon every instance had
its first one, the interval between an instance's samples (p50, p99, worst deviation),
sampler CPU as % of one core (the process, once every series has begun, less the probe's
own cost; and the sampler's thread alone), zero-memory records, missed ticks and the event
loop's wake-up lag. ``--slots 20`` spreads the reads over the interval, to compare.

Every process is killed and every cgroup and folder removed on the way out, also on Ctrl-C,
SIGTERM or an error; if the bench itself is SIGKILLed, the containment's keeper removes the
run's cgroups and kills its processes.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from choreograph.runners.containment import RunContainment
from choreograph.runners.launch import die_with_parent, join_cage
from choreograph.runners.resources import ResourceSampler
from choreograph.runners.supervise import Running

TARGET_DEVIATION = 0.10  # of the interval
TARGET_CPU_PERCENT = 5.0
SLEEP = shutil.which("sleep") or "/bin/sleep"


def spawn(
    containment: RunContainment, n: int, procs: list[subprocess.Popen[bytes]]
) -> dict[str, Running]:
    """N idle instances, each in its cage (a cgroup cell, or marked for the keeper); each
    is added to ``procs`` as soon as it exists, for the clean-up."""
    running: dict[str, Running] = {}
    for index in range(n):
        key = f"idle/{index}"
        cage = containment.cage(key)
        join = cage.join_files

        def setup(join: tuple[str, ...] = join) -> None:
            die_with_parent()
            join_cage(join)

        proc = subprocess.Popen(
            [SLEEP, "3600"],
            env={**os.environ, **containment.env(cage)},
            stdin=subprocess.DEVNULL,
            preexec_fn=setup if join else None,  # no preexec: the fast spawn path
        )
        procs.append(proc)
        cage.pgid = proc.pid
        running[key] = Running(proc.pid, cage)
    return running


@dataclass
class Measured:
    started: float
    """Wall-clock time the sampler started."""
    cpu_first: float
    """Process CPU, % of one core, until every series has begun, and one interval more."""
    cpu_steady: float
    """The same after that, less the probe's own cost."""
    first_s: float
    """How long that start took."""
    cpu_probe: float
    """The lag probe alone, before the sampler starts."""
    cpu_thread: float
    """The sampler's thread alone, in the steady part."""
    lags: list[float] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)


async def sample(sampler: ResourceSampler, running: dict[str, Running], seconds: float) -> Measured:
    """Run the sampler for ``seconds`` beside a probe of the event loop's wake-up lag."""
    loop = asyncio.get_running_loop()
    lags: list[float] = []

    async def probe() -> None:
        while True:
            asked = loop.time()
            await asyncio.sleep(0.02)
            lags.append(loop.time() - asked - 0.02)

    prober = asyncio.create_task(probe())
    cpu0, wall0 = time.process_time(), time.monotonic()
    await asyncio.sleep(2.0)
    probe_only = 100 * (time.process_time() - cpu0) / (time.monotonic() - wall0)
    lags.clear()
    started = time.time()
    # As the supervisor does: a fresh mapping of fresh records each time it is asked.
    task = asyncio.create_task(
        sampler.run(lambda: {k: Running(r.pid, r.cage) for k, r in running.items()})
    )
    cpu0, wall0 = time.process_time(), time.monotonic()
    await asyncio.sleep(sampler.interval / 2)
    while sampler.statistics()["waiting"] or not sampler.statistics()["instances"]:
        await asyncio.sleep(0.1)  # until every series has begun (their files are created)
    await asyncio.sleep(sampler.interval)
    cpu1, wall1, thread1 = time.process_time(), time.monotonic(), thread_cpu("choreo-sampler")
    await asyncio.sleep(max(0.0, seconds - (wall1 - wall0)))
    cpu2, wall2, thread2 = time.process_time(), time.monotonic(), thread_cpu("choreo-sampler")
    stats = sampler.statistics()
    for t in (task, prober):
        t.cancel()
    await asyncio.gather(task, prober, return_exceptions=True)
    return Measured(
        started,
        100 * (cpu1 - cpu0) / (wall1 - wall0),
        100 * (cpu2 - cpu1) / (wall2 - wall1) - probe_only,
        wall1 - wall0,
        probe_only,
        100 * (thread2 - thread1) / (wall2 - wall1),
        lags,
        stats,
    )


def thread_cpu(name: str) -> float:
    """CPU seconds used so far by this process's thread called ``name``."""
    thread = next(t for t in threading.enumerate() if t.name == name)
    with open(f"/proc/self/task/{thread.native_id}/stat", "rb") as f:
        fields = f.read().rpartition(b")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def report(mode: str, args: argparse.Namespace, out: Path, m: Measured, spawn_s: float) -> None:
    n, interval = args.instances, args.interval
    counts, gaps, firsts, zeros = [], [], [], 0
    for index in range(n):
        path = out / "idle" / str(index) / "resources.out"
        records = [json.loads(line) for line in path.open()] if path.exists() else []
        ts = [r["ts"] / 1e9 for r in records if r["name"] == "rss_bytes"]
        zeros += sum(1 for r in records if r["name"] == "rss_bytes" and r["value"] == 0)
        counts.append(len(ts))
        firsts += ts[:1]
        gaps += [b - a for a, b in itertools.pairwise(ts)]
    worst = max((abs(g - interval) for g in gaps), default=float("nan"))
    print(f"\n== {mode}: {n} idle instances, interval {interval:g} s, {m.stats['slots']} slot(s)")
    print(f"  spawned in {spawn_s:.1f} s; {m.stats['open_files']} files kept open by the sampler")
    rows = [
        ("samples per instance (min / median)",
         f"{min(counts)} / {statistics.median(counts):g}", f"≈ {args.seconds / interval:g}"),
        ("instances never sampled", f"{sum(1 for c in counts if c == 0)}", "0"),
        ("every first sample within", f"{max(firsts, default=m.started) - m.started:.2f} s", ""),
        ("interval p50 / p99", f"{pct(gaps, 0.5):.3f} / {pct(gaps, 0.99):.3f} s",
         f"{interval:g} s ± {TARGET_DEVIATION:.0%}"),
        ("worst deviation from the interval", f"{worst * 1000:.0f} ms ({worst / interval:.1%})",
         f"≤ {TARGET_DEVIATION:.0%}"),
        ("sampler CPU, % of one core (steady)", f"{m.cpu_steady:.1f} %",
         f"≤ {TARGET_CPU_PERCENT:g} %"),
        ("  of which its thread", f"{m.cpu_thread:.1f} %", ""),
        (f"  the first {m.first_s:.1f} s (begin every series)", f"{m.cpu_first:.1f} %", ""),
        ("  the bench's lag probe alone", f"{m.cpu_probe:.1f} %", "(subtracted)"),
        ("zero-memory records", f"{zeros}", "0"),
        ("missed ticks", f"{m.stats['missed_ticks']}", "0"),
        ("event-loop lag p99 / max", f"{pct(m.lags, 0.99) * 1000:.1f} / "
         f"{max(m.lags, default=0) * 1000:.1f} ms", ""),
    ]  # fmt: skip
    for name, got, target in rows:
        print(f"  {name:<40} {got:<20} {target}")
    print(f"  load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


def run_mode(mode: str, args: argparse.Namespace) -> None:
    out = Path(tempfile.mkdtemp(prefix="sampling-bench-"))
    procs: list[subprocess.Popen[bytes]] = []
    containment = RunContainment(f"sampling-bench-{os.getpid()}", use_cgroups=mode == "cgroup")
    try:
        with containment:
            if mode == "cgroup" and containment.layout is None:
                print(f"\n== cgroup: skipped, no cgroups here ({containment.why_not_cgroups})")
                return
            for index in range(args.instances):  # as the supervisor makes them
                (out / "idle" / str(index)).mkdir(parents=True)
            started = time.monotonic()
            running = spawn(containment, args.instances, procs)
            spawn_s = time.monotonic() - started
            sampler = ResourceSampler(
                "bench", args.interval, lambda key: out / key, slots=args.slots
            )
            measured = asyncio.run(sample(sampler, running, args.seconds))
            report(mode, args, out, measured, spawn_s)
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait()
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--mode", choices=("cgroup", "tree", "both"), default="both")
    parser.add_argument("--slots", type=int, default=None, help="default: the sampler's own")
    args = parser.parse_args()

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # unwinds through the clean-up below

    signal.signal(signal.SIGTERM, stop)
    for mode in ("cgroup", "tree") if args.mode == "both" else (args.mode,):
        try:
            run_mode(mode, args)
        except KeyboardInterrupt:
            sys.exit("interrupted: processes and cgroups removed")


if __name__ == "__main__":
    main()
