"""How many metric records one instance can write per second (prints figures only).

Each recorder kind records ``--records`` observations into ``results.out`` in a temporary
outputs folder, through the public API a plan uses (``runenv.R()``); the time includes
turning every record into its JSON line and writing it (the final flush is inside the
timed span). The target is ≥ 200,000 records/s per instance.

Run: ``python bench/metrics_bench.py [--records 1000000]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from choreograph.sdk import RunEnv


def runenv_in(folder: Path) -> RunEnv:
    return RunEnv.from_env(
        {
            "TEST_PLAN": "bench",
            "TEST_CASE": "metrics",
            "TEST_RUN": "bench-run",
            "TEST_INSTANCE_COUNT": "1",
            "TEST_GROUP_ID": "single",
            "TEST_OUTPUTS_PATH": str(folder),
        }
    )


def measure(name: str, records: int, record: Callable[[int], None], runenv: RunEnv) -> None:
    out = runenv.outputs_path / "results.out"
    out.unlink(missing_ok=True)
    started = time.perf_counter()
    for n in range(records):
        record(n)
    runenv.R().flush()
    seconds = time.perf_counter() - started
    lines = sum(1 for _ in out.open())
    assert lines == records, f"{name}: wrote {lines} lines, expected {records}"
    print(
        f"{name:<22} {records / seconds:>12,.0f} records/s   "
        f"{seconds / records * 1e9:>6.0f} ns/record   {out.stat().st_size / records:.0f} B/line"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runenv = runenv_in(Path(tmp))
        r = runenv.R()
        histogram, counter, gauge = r.histogram("h", "B"), r.counter("c"), r.gauge("g")
        timer = r.timer("t", "ms")

        def timed(_: int) -> None:
            with timer.time():
                pass

        measure("histogram.observe", args.records, histogram.observe, runenv)
        measure("counter.inc", args.records, lambda _: counter.inc(), runenv)
        measure("gauge.set", args.records, gauge.set, runenv)
        measure("with timer.time()", args.records, timed, runenv)
        measure("point(name, v)", args.records, lambda n: r.point("p", n, "ops"), runenv)


if __name__ == "__main__":
    main()
