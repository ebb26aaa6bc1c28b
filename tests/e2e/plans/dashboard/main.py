"""A slow run for the dashboard's browser tests: instances step for a few seconds, and
one fails halfway with text that would run script if a page did not escape it."""

from __future__ import annotations

import time

from choreograph.sdk import RunEnv, invoke_map

HOSTILE = "<script>window.pwned = 1</script><img src=x onerror='window.pwned = 2'>"


def slow(runenv: RunEnv) -> str | None:
    steps = runenv.int_param("steps")
    failing = runenv.group_index == runenv.int_param("fail_index")
    for step in range(steps):
        runenv.record_message(f"step {step + 1}/{steps}")
        if failing and step == steps // 2:
            runenv.record_message(f"about to fail {HOSTILE}")
            return f"boom: instance {runenv.group_index} gave up {HOSTILE}"
        time.sleep(0.5)
    return None


if __name__ == "__main__":
    invoke_map({"slow": slow})
