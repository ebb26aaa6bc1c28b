"""Metrics, recorded with `runenv.R()` (results) and `runenv.D()` (diagnostics).

- work: each instance times `ops` operations that sleep `delay` (and burn `busy` CPU),
  counts them, records a gauge of what is left and a histogram of payload sizes.
  Two runs with different `delay` differ on `op_time`; two with the same do not.
- noisy: each instance records `samples` values drawn from a normal distribution
  (`mean`, `sd`): a metric whose per-run mean wanders, for `--until-stable`. With a
  `seed`, a run's values are reproducible.

In both, `fail_index` makes one instance fail after recording (its metrics are still
written).
"""

from __future__ import annotations

import random
import time

from choreograph.sdk import RunEnv, invoke_map


def work(runenv: RunEnv) -> str | None:
    delay = runenv.duration_param("delay").total_seconds()
    busy = runenv.duration_param("busy").total_seconds()
    ops = runenv.int_param("ops")
    results, diagnostics = runenv.R(), runenv.D()
    op_time = results.timer("op_time", unit="ms")
    done = results.counter("ops")
    left = diagnostics.gauge("ops_left")
    payload = results.histogram("payload", unit="B")
    for n in range(ops):
        with op_time.time():
            time.sleep(delay)
            deadline = time.perf_counter() + busy
            while time.perf_counter() < deadline:
                pass
        done.inc()
        left.set(ops - n - 1)
        payload.observe(64 * (1 + n % 8))
    results.point("throughput", ops / max(delay, 1e-9), unit="ops/s")
    if runenv.global_index == runenv.int_param("fail_index"):
        return "failing on purpose after recording"
    return None


def noisy(runenv: RunEnv) -> str | None:
    seed = runenv.int_param("seed")
    rng = random.Random(seed + runenv.global_index if seed else None)
    mean, sd = runenv.float_param("mean"), runenv.float_param("sd")
    value = runenv.R().histogram("value")
    for _ in range(runenv.int_param("samples")):
        value.observe(rng.gauss(mean, sd))
    if runenv.global_index == runenv.int_param("fail_index"):
        return "failing on purpose after recording"
    return None


if __name__ == "__main__":
    invoke_map({"work": work, "noisy": noisy})
