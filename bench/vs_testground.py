"""Choreograph side by side with Testground itself: sync service load and whole plan runs.

Prints one table: each measure, Choreograph's figure, Testground's, the ratio C/T and the
issue's target. What is compared:

* **Builds.** Testground's daemon (github.com/testground/testground v0.5.3, main package at
  the module root) and its Go sync service (github.com/testground/sync-service v0.1.0, main
  package ``cmd``) are built from the Go module proxy into ``--cache`` (default
  ``~/.cache/choreograph-bench/testground``), one folder per module version, and reused
  later. Without Go, or when a module cannot be fetched, the benchmark prints why and exits 0.
* **Sync load.** The same generator, the same shapes, against ``python -m
  choreograph.sync_service`` and Testground's service (which always listens on :5050):
  signal_entry and publish throughput at 1 and 100 clients with 1 and ``--window`` requests
  in flight per client (bench/sync_bench.py's shapes), barrier release latency with 1,000
  waiters, and the fan-out of 1,000 messages to 1,000 subscribers with the acknowledgement
  latency of those publishes while delivery goes on. Services start fresh per shape; runs
  alternate between them; figures are medians of ``--reps`` (3).
* **Plan runs.** Testground's ``placebo`` plan, case ``ok`` (from ``--testground-src``, a
  Testground checkout), through Testground's daemon and runner (local:exec, exec:go) and
  through ``choreo run single``, for each of ``--instances`` (1,10,100), builds made first,
  alternating, medians of ``--reps``. Choreograph's home, which holds its Go build caches,
  is kept in the cache (``choreo-home``; its runs are deleted at the end), so later
  benchmarks start warm as Testground's do. What Testground v0.5.3's runner needs on a host
  without Docker Hub is described in bench/vs_testground/testground_local.py; when it
  cannot be had, the reason is printed and the Choreograph column is still filled.

The load generator is a Go program (bench/vs_testground/loadgen, gorilla/websocket v1.5.3,
built into the same cache), not Python: on this 2-core box the generator shares the CPU
with the service it measures. In Go it spends about 10 µs of CPU per request answered,
on goroutines over both cores; a Python asyncio client costs several times that per
message on one core, so it would need several processes to keep Testground's service (which
uses both cores) busy, and would take their CPU from the service being measured. The
generator reports its own CPU (getrusage) and the service's (/proc) over the measured part
of each run; both are printed per shape, as shares of one core, so a reader can check which
side was saturated (where the Go service and the generator together fill both cores, the
box is the limit).

Run: ``python3 bench/vs_testground.py [--quick] [--instances 1,10,100,1000] [--reps 3]
[--testground-src DIR] [--cache DIR] [--window 16] [--skip-sync] [--skip-runs]``
(root and a running Docker engine are needed for Testground's plan runs).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

from vs_testground import plan_runs, sync_load, toolchain
from vs_testground.processes import Processes
from vs_testground.table import Row, render
from vs_testground.testground_local import TestgroundLocal, TestgroundUnavailable


def say(line: str) -> None:
    print(line, flush=True)


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through every finally: the clean-up runs


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:  # 1,000 websockets on each side; children inherit the limit
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 and 10 instances, fewer ops")
    parser.add_argument("--instances", help="instance counts of the plan runs (default 1,10,100)")
    parser.add_argument("--reps", type=int, default=3, help="runs per measure and tool")
    parser.add_argument("--window", type=int, default=16, help="pipelined requests per client")
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path.home() / ".cache" / "choreograph-bench" / "testground",
        help="where Testground's binaries are built and kept",
    )
    parser.add_argument(
        "--testground-src",
        type=Path,
        default=Path(os.environ["TESTGROUND_SRC"]) if os.environ.get("TESTGROUND_SRC") else None,
        help="a Testground checkout, for plans/placebo (default: $TESTGROUND_SRC)",
    )
    parser.add_argument("--skip-sync", action="store_true", help="no sync-service load")
    parser.add_argument("--skip-runs", action="store_true", help="no plan runs")
    args = parser.parse_args()
    default = "1,10" if args.quick else "1,10,100"
    args.counts = [int(n) for n in (args.instances or default).split(",")]
    return args


def _build(cache: Path) -> dict[str, toolchain.Binary] | None:
    try:
        say(f"go: {toolchain.require_go()}; cache {cache}")
        binaries = {
            "testground": toolchain.module_binary(cache, toolchain.TESTGROUND, "testground"),
            "sync-service": toolchain.module_binary(cache, toolchain.SYNC_SERVICE, "sync-service"),
            "loadgen": toolchain.loadgen_binary(cache),
        }
    except toolchain.BuildUnavailable as e:
        say(f"skip: vs_testground cannot build Testground here: {e}")
        return None
    for binary in binaries.values():
        how = "cached" if binary.build_seconds is None else f"built in {binary.build_seconds:.1f} s"
        say(f"  {binary.label}: {how}")
    return binaries


def _sync_rows(args: argparse.Namespace, bench: sync_load.SyncBench) -> list[Row]:
    say("\nsync load (CPU per shape: median over runs, share of one core)")
    rows: list[Row] = []
    for shape in sync_load.shapes(args.quick, args.window):
        try:
            results = bench.run_shape(shape, args.reps)
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            say(f"  {shape.name}: failed: {e}")
            rows += sync_load.missing_rows(shape, f"{shape.name} failed: {e}")
            continue
        rows += sync_load.rows_for(shape, results)
        say(sync_load.cpu_line(shape, results))
    return rows


def _plan_rows(
    args: argparse.Namespace,
    binaries: dict[str, toolchain.Binary],
    procs: Processes,
    work: Path,
    testground: TestgroundLocal,
) -> list[Row]:
    src = args.testground_src
    if src is None or not (src / "plans" / "placebo" / "manifest.toml").is_file():
        say(f"\nplan runs skipped: no Testground checkout with plans/placebo ({src})")
        return []
    say(f"\nplan runs: placebo/ok from {src}, instances {args.counts}")
    plan = plan_runs.plan_copy(src / "plans" / "placebo", work, max(args.counts))
    # Choreograph keeps its Go caches in its home: one kept in the cache makes later
    # benchmarks start warm, as Testground's builds are (they use the user's Go caches).
    ours = plan_runs.ChoreographRuns(plan, args.cache / "choreo-home")
    try:
        say(f"  choreo build (exec:go): {ours.build():.1f} s")
    except RuntimeError as e:
        say(f"plan runs skipped: {e}")
        return []
    missing = ""
    theirs = None
    try:
        testground.open()
        testground.import_plan(plan)
        artifact, seconds = testground.build()
        say(f"  testground build (exec:go, through its daemon): {seconds:.1f} s")
        theirs = lambda n: testground.run(artifact, n)  # noqa: E731
    except (TestgroundUnavailable, RuntimeError) as e:
        missing = f"Testground's runs could not be made: {e}"
        say(f"  {missing}")
    return plan_runs.compare(args.counts, args.reps, ours.run, theirs, missing, say)


def main() -> int:
    args = _arguments()
    signal.signal(signal.SIGTERM, _terminate)
    _raise_nofile()
    started = time.perf_counter()
    binaries = _build(args.cache)
    if binaries is None:
        return 0
    rows: list[Row] = []
    procs = Processes()
    with tempfile.TemporaryDirectory(prefix="vs-testground-") as tmp:
        work = Path(tmp)
        (work / "logs").mkdir()
        testground = TestgroundLocal(
            procs,
            binaries["testground"].path,
            binaries["sync-service"].path,
            binaries["loadgen"].path,
            work,
        )
        bench = sync_load.SyncBench(
            procs, binaries["sync-service"].path, binaries["loadgen"].path, work / "logs"
        )
        try:
            if not args.skip_sync:
                rows += _sync_rows(args, bench)
            if not args.skip_runs:
                rows += _plan_rows(args, binaries, procs, work, testground)
        except KeyboardInterrupt:
            say("interrupted; stopping everything this benchmark started")
            return 130
        finally:
            testground.close()
            procs.stop_all()
            shutil.rmtree(args.cache / "choreo-home" / "runs", ignore_errors=True)
    say("")
    say(render(rows))
    if not args.skip_sync:
        say(f"load generator (Go): at most {bench.gen_cpu_peak:.0%} of one core in any run")
    if not args.skip_runs and 1000 not in args.counts:
        say("the issue's plan-run target (≤ 0.5x Testground) is for 1,000 instances")
    say(f"benchmark took {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
