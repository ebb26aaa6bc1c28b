"""``invoke`` and ``invoke_map``: run one test function as an instance and report its outcome.

The instance's life is: read the environment, connect to the sync service once, record
``start``, call the test function, turn what it did into an outcome event, wait until that
event is published, exit (0 on success, 1 otherwise). The outcome rules live in
:func:`judge_result` and :func:`judge_exception`, shared by plain and ``async`` functions.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import traceback
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Literal, NoReturn, TypeVar, cast

from choreograph.errors import InputError, SyncError
from choreograph.sdk._blocking import BlockingSyncClient
from choreograph.sdk._network import NetClientField
from choreograph.sdk._runenv import RunEnv
from choreograph.sdk._sync import SyncClient, connect_timeout
from choreograph.wire.topics import NETWORK_INITIALIZED

TestFunction = Callable[..., object]
"""``fn(runenv)`` or ``fn(runenv, ctx)``, plain or ``async def``."""

C = TypeVar("C", SyncClient, BlockingSyncClient)

STATE_INITIALIZED_GLOBAL = "initialized_global"
STATE_INITIALIZED_GROUP = "initialized_group_{group}"


@dataclass(frozen=True)
class InitContext(Generic[C]):
    """What a two-argument test function gets besides its :class:`RunEnv`.

    ``sync_client`` is a :class:`BlockingSyncClient` for a plain function and a
    :class:`SyncClient` for an ``async def`` one; ``invoke`` owns it (do not close it).
    As in sdk-go, the instance has waited for its network when a sidecar serves it, and
    claimed ``global_seq`` and ``group_seq`` (from 1) on the ``initialized_global`` and
    ``initialized_group_<group>`` states: handy to pick roles. ``net_client`` shapes the
    instance's network (a :class:`BlockingNetworkClient` or a :class:`NetworkClient`).
    """

    run_env: RunEnv
    sync_client: C
    global_seq: int
    group_seq: int
    net_client = NetClientField()


@dataclass(frozen=True)
class Outcome:
    kind: Literal["success", "failure", "crash"]
    error: str = ""
    stacktrace: str = ""

    def record(self, runenv: RunEnv) -> int:
        """Record the outcome event; return the process exit code."""
        runenv.flush_metrics()  # on disk before the host hears the outcome, crash or not
        if self.kind == "success":
            runenv.record_success()
            return 0
        if self.kind == "failure":
            runenv.record_failure(self.error)
        else:
            runenv.record_crash(self.error, self.stacktrace)
        return 1


def judge_result(result: object) -> Outcome:
    """None is success; anything else (an error string, an exception object) is a failure."""
    if result is None:
        return Outcome("success")
    if inspect.isawaitable(result):
        if inspect.iscoroutine(result):
            result.close()  # never awaited, on purpose: no warning
        return Outcome("crash", "the test function returned an awaitable: declare it `async def`")
    return Outcome("failure", str(result))


def judge_exception(exc: BaseException) -> Outcome:
    """``assert`` is a failure; ``sys.exit(0)``/``sys.exit()`` is a success and any other exit
    a failure; everything else (interrupts included) is a crash with its traceback."""
    if isinstance(exc, SystemExit):
        if exc.code is None or exc.code == 0:
            return Outcome("success")
        if isinstance(exc.code, int):
            return Outcome("failure", f"the test function called sys.exit({exc.code})")
        return Outcome("failure", str(exc.code))
    trace = "".join(traceback.format_exception(exc))
    print(trace, end="", file=sys.stderr, flush=True)  # run.err gets it, as with sdk-go
    if isinstance(exc, AssertionError):
        return Outcome("failure", _assertion_message(exc))
    if isinstance(exc, KeyboardInterrupt | asyncio.CancelledError):
        return Outcome("crash", f"the test was interrupted ({type(exc).__name__})", trace)
    text = str(exc)
    return Outcome("crash", f"{type(exc).__name__}: {text}" if text else type(exc).__name__, trace)


def _assertion_message(exc: AssertionError) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    text = str(exc) or (frames[-1].line if frames else "") or ""
    return f"assertion failed{where}: {text}" if text else f"assertion failed{where}"


def _wants_context(fn: TestFunction) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    kinds = [p.kind for p in params]
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(k in positional for k in kinds) >= 2 or inspect.Parameter.VAR_POSITIONAL in kinds


def _is_async(fn: TestFunction) -> bool:
    # Also an instance whose __call__ is ``async def``.
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(type(fn).__call__)


async def _claim_seqs(client: SyncClient, runenv: RunEnv) -> tuple[int, int]:
    if runenv.test_sidecar:
        runenv.record_message("waiting for network to initialize")
        await client.barrier(NETWORK_INITIALIZED, runenv.test_instance_count)
        runenv.record_message("network initialization complete")
    group_state = STATE_INITIALIZED_GROUP.format(group=runenv.test_group_id)
    global_seq, group_seq = await asyncio.gather(
        client.signal_entry(STATE_INITIALIZED_GLOBAL), client.signal_entry(group_state)
    )
    return global_seq, group_seq


def _unreachable(runenv: RunEnv, exc: SyncError) -> int:
    print(f"choreograph.sdk: {exc}", file=sys.stderr, flush=True)
    runenv.record_crash(str(exc))  # stdout only: there is no one to publish to
    return 1


def _run_blocking(runenv: RunEnv, fn: TestFunction | None, unknown: str) -> int:
    try:
        client = BlockingSyncClient.connect(runenv, timeout=connect_timeout())
    except SyncError as exc:
        return _unreachable(runenv, exc)
    runenv.attach(client)
    with client:  # closing waits until the outcome event is published
        if fn is None:
            print(f"choreograph.sdk: {unknown}", file=sys.stderr, flush=True)
            return Outcome("crash", unknown).record(runenv)
        runenv.record_start()
        try:
            if _wants_context(fn):
                seqs = client._call(_claim_seqs(client.async_client, runenv))
                result = fn(runenv, InitContext(runenv, client, *seqs))
            else:
                result = fn(runenv)
        except BaseException as exc:
            outcome = judge_exception(exc)
        else:
            outcome = judge_result(result)
        return outcome.record(runenv)


async def _run_async(runenv: RunEnv, fn: TestFunction) -> int:
    try:
        client = await SyncClient.connect(runenv, timeout=connect_timeout())
    except SyncError as exc:
        return _unreachable(runenv, exc)
    runenv.attach(client)
    async with client:
        runenv.record_start()
        try:
            if _wants_context(fn):
                seqs = await _claim_seqs(client, runenv)
                result = await cast(
                    Awaitable[object], fn(runenv, InitContext(runenv, client, *seqs))
                )
            else:
                result = await cast(Awaitable[object], fn(runenv))
        except BaseException as exc:
            outcome = judge_exception(exc)
        else:
            outcome = judge_result(result)
        return outcome.record(runenv)


def _main(cases: Mapping[str, TestFunction] | None, fn: TestFunction | None) -> int:
    try:
        runenv = RunEnv.from_env()
    except InputError as exc:
        print(f"choreograph.sdk: cannot start this instance: {exc}", file=sys.stderr)
        return 1
    unknown = ""
    if cases is not None:
        fn = cases.get(runenv.test_case)
        if fn is None:
            known = ", ".join(sorted(cases)) or "none"
            unknown = f"unknown test case {runenv.test_case!r}; this plan has: {known}"
    if fn is not None and _is_async(fn):
        return asyncio.run(_run_async(runenv, fn))
    return _run_blocking(runenv, fn, unknown)


def invoke(fn: TestFunction) -> NoReturn:
    """Run ``fn`` as this instance's test case, record its outcome, and exit the process.

    ``fn(runenv)`` or ``fn(runenv, ctx)``, plain or ``async def``. Returning None is a
    success; returning anything else (an error message, an exception object) is a failure
    with that text; a failed ``assert`` is a failure; any other exception is a crash,
    reported with its traceback. ``sys.exit()`` / ``sys.exit(0)`` inside the test is a
    success, any other exit status a failure. Exits with status 0 on success, 1 otherwise.
    """
    sys.exit(_main(None, fn))


def invoke_map(cases: Mapping[str, TestFunction]) -> NoReturn:
    """Like :func:`invoke`, for the test function ``cases[TEST_CASE]``. An unknown case is
    a crash that names the cases this plan has."""
    sys.exit(_main(cases, None))
