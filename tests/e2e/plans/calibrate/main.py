"""A load whose CPU share follows one knob, for `choreo calibrate`.

- burn: work 10 ms, sleep `sleep_ms`, again, for `seconds`: CPU % ≈ 100·10/(10 + sleep_ms),
  a monotone, nonlinear response (more sleep, less CPU).
- deaf: the same loop with a fixed 3 ms of work and 7 ms of sleep: it takes the knob and
  ignores it, so no calibration of it can converge.
"""

from __future__ import annotations

import time

from choreograph.sdk import RunEnv, invoke_map


def _loop(work_s: float, sleep_s: float, seconds: float) -> int:
    rounds = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        deadline = time.perf_counter() + work_s
        while time.perf_counter() < deadline:
            pass
        time.sleep(sleep_s)
        rounds += 1
    return rounds


def burn(runenv: RunEnv) -> None:
    sleep_s = max(0.0, runenv.float_param("sleep_ms")) / 1000
    rounds = _loop(0.010, sleep_s, runenv.float_param("seconds"))
    runenv.R().point("rounds", rounds)


def deaf(runenv: RunEnv) -> None:
    runenv.float_param("sleep_ms")
    rounds = _loop(0.003, 0.007, runenv.float_param("seconds"))
    runenv.R().point("rounds", rounds)


if __name__ == "__main__":
    invoke_map({"burn": burn, "deaf": deaf})
