"""Outcomes other than success, on purpose: how each one is recorded and reported.

- failure: an assertion fails (a recorded failure).
- crash: an unexpected exception (a crash, with its traceback).
- error-return: the test function returns an error (a failure).
- silent-exit: the process exits without any outcome event (a crash, with exit status).
- one-fails: instance 1 of the group fails, the others succeed after a barrier.
- hang: every instance waits forever (timeouts, interrupts, --fail-fast, SIGKILL tests);
  with `fail_index` set, that instance fails at once.
- async-ok: an `async def` case that passes a barrier (the async SDK face).
"""

from __future__ import annotations

import os
import sys
import time

from choreograph.sdk import InitContext, RunEnv, SyncClient, invoke_map


def failure(runenv: RunEnv) -> None:
    answer = 6 * 7
    assert answer == 54, f"expected 54, got {answer}"


def crash(runenv: RunEnv) -> None:
    {}["missing-key"]


def error_return(runenv: RunEnv) -> str:
    return "the system under test answered 503"


def silent_exit(runenv: RunEnv) -> None:
    print("leaving without a word", file=sys.stderr, flush=True)
    os._exit(7)


def one_fails(runenv: RunEnv, ctx: InitContext) -> str | None:
    ctx.sync_client.signal_and_wait("started", runenv.test_instance_count)
    if runenv.group_index == 1:
        return "instance 1 disagrees"
    return None


def hang(runenv: RunEnv) -> str | None:
    if runenv.group_index == runenv.int_param("fail_index"):
        return "failing at once, as asked"
    runenv.record_message(f"pid {os.getpid()} hanging")
    while True:
        time.sleep(3600)


async def async_ok(runenv: RunEnv, ctx: InitContext) -> None:
    client: SyncClient = ctx.sync_client
    await client.signal_and_wait("async-barrier", runenv.test_instance_count)


if __name__ == "__main__":
    invoke_map(
        {
            "failure": failure,
            "crash": crash,
            "error-return": error_return,
            "silent-exit": silent_exit,
            "one-fails": one_fails,
            "hang": hang,
            "async-ok": async_ok,
        }
    )
