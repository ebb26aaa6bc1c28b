"""One run, start to end: resolve builders → build → start the sync service → run the
instances → decide outcomes → write the run folder. The CLI calls this in-process (no
daemon); a daemon will call the same function from its task queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from choreograph import __version__, plugins, progress, services
from choreograph.availability import check_available
from choreograph.builds import build_all
from choreograph.config import Settings
from choreograph.errors import InputError
from choreograph.plan.facts import (
    Fact,
    InstanceEvent,
    InstanceExited,
    InstanceStarted,
    RunnerNote,
)
from choreograph.plan.spec import Artifact, RunSpec
from choreograph.results import liveness
from choreograph.results.layout import RunLayout, new_run_id
from choreograph.results.outcomes import GroupOutcome, InstanceOutcome, OutcomeBook
from choreograph.run_events import RunEventsFollower
from choreograph.runners.base import Placement, RunContext, Runner, placement
from choreograph.runners.sync_alias import parse_alias
from choreograph.sync_service import SyncService
from choreograph.sync_service.endpoint import SyncEndpoint
from choreograph.wire.topics import run_events_key, state_key


class StopRequest:
    """Why and whether the run must stop; the first reason given wins."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.reason = ""

    def request(self, reason: str) -> None:
        if not self.event.is_set():
            self.reason = reason
            self.event.set()


@dataclass(frozen=True)
class RunOptions:
    timeout_s: float = 600.0
    fail_fast: bool = False
    stop_grace_s: float = 3.0
    run_id: str = ""


@dataclass
class RunResult:
    run_id: str
    run_dir: Path
    success: bool
    groups: list[GroupOutcome]
    instances: list[InstanceOutcome]
    stop_reason: str = ""
    seconds: float = 0.0
    builds: dict[str, dict[str, Any]] = field(default_factory=dict)


def pick_runner(runner_id: str) -> Runner:
    if runner_id not in plugins.RUNNERS:
        raise InputError(
            f"runner {runner_id!r} is not available; Choreograph can run: "
            f"{', '.join(sorted(plugins.RUNNERS))} (choose one with --runner)"
        )
    runner: Runner = plugins.load(plugins.RUNNERS, runner_id)
    if problems := runner.problems():
        raise InputError(f"runner {runner_id} cannot run here: " + "; ".join(problems))
    return runner


def _record(spec: RunSpec, run_id: str, started: datetime, **more: Any) -> dict[str, Any]:
    """A ``run.json`` record; ``more`` holds the status and whatever the step adds."""
    return {
        "run_id": run_id,
        "choreograph": __version__,
        "python": platform.python_version(),
        "host": platform.node(),
        "started": started.isoformat(),
        "spec": spec.to_json(),
        **more,
    }


async def execute(
    spec: RunSpec,
    settings: Settings,
    options: RunOptions,
    sink: progress.ProgressSink = progress.discard,
    stop: StopRequest | None = None,
) -> RunResult:
    """Run ``spec`` to its end and return the outcome; the run folder holds the rest.

    ``run.json`` says where the run is at every step (``building``, ``running``, then the
    outcome) and names its owner process, so a run cut short by a SIGKILL or a crash reads as
    ``aborted`` (see :mod:`choreograph.results.liveness`); an internal error writes
    ``aborted`` with the error before it propagates.
    """
    stop = stop or StopRequest()
    check_available(spec)
    runner = pick_runner(spec.runner)
    run_id = options.run_id or new_run_id()
    layout = RunLayout(settings.runs_dir, run_id)
    started = datetime.now(UTC)
    t0 = time.monotonic()
    liveness.mark_aborted(settings.runs_dir)
    owner = liveness.owner_record()

    def record(**more: Any) -> dict[str, Any]:
        return _record(spec, run_id, started, owner=owner, **more)

    layout.write_run_json(record(status="building"))
    liveness.mark_live(layout, owner)
    try:
        artifacts = await _build(spec, settings, sink, layout, record)
        builds = {
            g: {
                "build_id": a.build_id,
                "builder": a.builder,
                "from_cache": a.from_cache,
                "provenance": a.provenance,
            }
            for g, a in artifacts.items()
        }
        layout.write_run_json(record(status="running", builds=builds))
        try:
            book = await _run(
                spec, settings, options, sink, stop, runner, layout, artifacts, started
            )
        except BaseException as exc:
            error = f"{type(exc).__name__}: {exc}"
            layout.write_run_json(record(**_cut_short(exc, "aborted", error), builds=builds))
            raise
        result = _result(run_id, layout, book, stop, time.monotonic() - t0, builds)
        layout.write_run_json(record(**_final_fields(result)))
    finally:
        liveness.clear_live(layout)
    return result


async def _build(
    spec: RunSpec,
    settings: Settings,
    sink: progress.ProgressSink,
    layout: RunLayout,
    record: Callable[..., dict[str, Any]],
) -> dict[str, Artifact]:
    try:
        return await build_all(spec, settings, sink)
    except BaseException as exc:
        # The run folder says what happened even when no instance ever started.
        layout.write_run_json(record(**_cut_short(exc, "build-failed", str(exc))))
        raise


def _cut_short(exc: BaseException, status: str, error: str) -> dict[str, Any]:
    """``run.json`` fields for a run an exception ended: ``interrupted`` for Ctrl-C or a
    cancellation, else ``status``."""
    interrupted = isinstance(exc, asyncio.CancelledError | KeyboardInterrupt)
    return {
        "status": "interrupted" if interrupted else status,
        "error": error,
        "ended": datetime.now(UTC).isoformat(),
    }


async def _run(
    spec: RunSpec,
    settings: Settings,
    options: RunOptions,
    sink: progress.ProgressSink,
    stop: StopRequest,
    runner: Runner,
    layout: RunLayout,
    artifacts: dict[str, Artifact],
    started: datetime,
) -> OutcomeBook:
    """Start the sync service where the runner's instances reach it, then the services,
    then the instances; return the outcome book once everything has ended."""
    run_id = layout.run_id
    book = OutcomeBook.for_groups(
        {g.id: g.instances for g in spec.groups},
        published_only=getattr(runner, "published_outcomes_only", False),
    )
    sink(
        progress.RunStarted(
            run_id,
            layout.root,
            spec.plan,
            spec.case,
            spec.runner,
            {g.id: g.instances for g in spec.groups},
        )
    )
    decide = _decider(book, options, sink, stop)
    async with contextlib.AsyncExitStack() as stack:
        place = await stack.enter_async_context(placement(runner, run_id, spec, layout.root))
        service: SyncEndpoint = place.sync or SyncService(
            history_budget_bytes=settings.sync_history_mib << 20,
            budget_hint="raise sync_history_mib in config.toml or CHOREO_SYNC_HISTORY_MIB",
        )
        # A service the runner brought (in a cluster) is reached, not listened for.
        await service.start(
            *(("", 0) if place.sync else _listen_address(runner, place, artifacts, run_id))
        )
        stack.push_async_callback(_stop_service, service, sink)
        follower = RunEventsFollower(
            service,
            run_events_key(run_id, spec.plan, spec.case),
            place.origins,
            lambda problem: sink(progress.RunWarning(problem)),
        )
        on_fact, settling = _fact_handler(book, decide, follower, sink)
        host, port = service.address
        # [[services]] start before any instance; one that fails stops the run.
        service_env, problem = await services.start_all(spec.services, layout.root, stack, host)
        if problem:
            stop.request(problem)
        ctx = RunContext(
            run_id=run_id,
            spec=spec,
            artifacts=services.with_env(artifacts, service_env),
            run_dir=layout.root,
            instance_dir=layout.instance_dir,
            temp_dir=layout.temp_dir,
            sync_host=host,
            sync_port=port,
            start_time=started,
            report=on_fact,
            stop=stop.event,
            stop_grace_s=options.stop_grace_s,
        )
        failure: Exception | None = None
        async with asyncio.TaskGroup() as tg:
            helpers = [
                tg.create_task(follower.follow(decide)),
                tg.create_task(_stop_after(options.timeout_s, stop)),
                tg.create_task(
                    _pulse(
                        service,
                        options.timeout_s,
                        state_key(run_id, spec.plan, spec.case, ""),
                        sink,
                    )
                ),
                tg.create_task(_mark_stopped(stop, book, sink)),
            ]
            try:
                if not stop.event.is_set():
                    await runner.run(ctx)
                while settling:
                    await asyncio.gather(*settling)
            except Exception as exc:
                failure = exc  # raised as itself below, not wrapped in an ExceptionGroup
            finally:
                for task in helpers:
                    task.cancel()
        if failure is not None:
            raise failure
    if stop.reason:
        for outcome in book.stop_remaining(stop.reason):
            sink(progress.InstanceFinished(outcome.key, outcome.status, outcome.error, ""))
    return book


def _listen_address(
    runner: Runner, place: Placement, artifacts: dict[str, Artifact], run_id: str
) -> tuple[str, int]:
    """Where the run's sync service listens: the runner's placement, on a free port; a plan
    whose SDK dials a fixed port gets that port, on an address private to the run."""
    alias = next((a.sync_alias for a in artifacts.values() if a.sync_alias), "")
    if not alias:
        preferred: int = getattr(runner, "preferred_sync_port", 0)
        return place.sync_host, preferred if _bindable(place.sync_host, preferred) else 0
    host = getattr(runner, "sync_alias_host", lambda _: place.sync_host)(run_id)
    return host, parse_alias(alias)[1]


def _bindable(host: str, port: int) -> bool:
    """Whether ``host:port`` is free right now (0: any port is)."""
    if port == 0:
        return True
    import socket

    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


async def _stop_service(service: SyncEndpoint, sink: progress.ProgressSink) -> None:
    await service.stop()
    for refusal in service.refusals():
        sink(progress.RunWarning(f"sync service: {refusal}"))


def _decider(
    book: OutcomeBook, options: RunOptions, sink: progress.ProgressSink, stop: StopRequest
) -> Callable[[Fact], None]:
    def decide(fact: Fact) -> None:
        outcome = book.apply(fact)
        if outcome is not None:
            sink(
                progress.InstanceFinished(
                    outcome.key, outcome.status, outcome.error, outcome.detail
                )
            )
            if options.fail_fast and outcome.status in ("failure", "crash"):
                stop.request(f"fail-fast: {outcome.key} {outcome.status}")

    return decide


def _fact_handler(
    book: OutcomeBook,
    decide: Callable[[Fact], None],
    follower: RunEventsFollower,
    sink: progress.ProgressSink,
) -> tuple[Callable[[Fact], None], set[asyncio.Task[None]]]:
    """What the runner reports facts to, and the exits still settling."""
    settling: set[asyncio.Task[None]] = set()

    async def settle_exit(fact: InstanceExited) -> None:
        # An instance publishes its outcome on run_events before it exits, but our reader
        # of that topic may not have seen it yet: catch up before calling it a crash.
        await follower.wait_caught_up(timeout=2.0)
        decide(fact)

    def on_fact(fact: Fact) -> None:
        if isinstance(fact, RunnerNote):
            sink(progress.RunnerStatus(fact.message))
            return
        if isinstance(fact, InstanceStarted):
            sink(progress.InstanceStarted(fact.key))
        elif (
            isinstance(fact, InstanceEvent)
            and fact.event.kind == "message"
            and fact.channel == "stdout"
        ):
            sink(progress.Message(fact.key, fact.event.message))
        if isinstance(fact, InstanceExited) and not book.instances[fact.key].final:
            task = asyncio.get_running_loop().create_task(settle_exit(fact))
            settling.add(task)
            task.add_done_callback(settling.discard)
        else:
            decide(fact)

    return on_fact, settling


def _result(
    run_id: str,
    layout: RunLayout,
    book: OutcomeBook,
    stop: StopRequest,
    seconds: float,
    builds: dict[str, dict[str, Any]],
) -> RunResult:
    return RunResult(
        run_id=run_id,
        run_dir=layout.root,
        success=book.success and not stop.reason,
        groups=book.groups(),
        instances=list(book.instances.values()),
        stop_reason=stop.reason,
        seconds=seconds,
        builds=builds,
    )


def _final_fields(result: RunResult) -> dict[str, Any]:
    """What ``run.json`` says once the run is over."""
    return {
        "status": "success" if result.success else "failure",
        "ended": datetime.now(UTC).isoformat(),
        "seconds": round(result.seconds, 3),
        "builds": result.builds,
        "stop_reason": result.stop_reason,
        "outcome": {
            "success": result.success,
            "groups": [asdict(g) for g in result.groups],
            "instances": {
                o.key: {
                    "status": o.status,
                    "error": o.error,
                    "returncode": o.returncode,
                    "decided_by": o.channel,
                    **({"stderr_tail": o.stderr_tail} if o.status != "success" else {}),
                }
                for o in result.instances
            },
        },
        "argv": sys.argv,
    }


async def _stop_after(seconds: float, stop: StopRequest) -> None:
    await asyncio.sleep(seconds)
    stop.request(f"timeout after {seconds:g}s")


PULSE_S = 1.0


async def _pulse(
    service: SyncEndpoint, timeout_s: float, states: str, sink: progress.ProgressSink
) -> None:
    """A :class:`~choreograph.progress.RunPulse` a second: time left, barriers waited on
    (named as the plan names them: ``states``, the run's key prefix, taken off)."""
    began = time.monotonic()
    while True:
        await asyncio.sleep(PULSE_S)
        waits = tuple(
            (name.removeprefix(states), count, target, waiting)
            for name, count, target, waiting in service.waits(progress.PULSE_WAITS)
        )
        sink(progress.RunPulse(round(time.monotonic() - began, 1), timeout_s, waits))


async def _mark_stopped(stop: StopRequest, book: OutcomeBook, sink: progress.ProgressSink) -> None:
    """The moment a stop is requested, instances still running are 'stopped', not crashed
    by the SIGTERM that follows."""
    await stop.event.wait()
    sink(progress.RunStopping(stop.reason))
    for outcome in book.stop_remaining(stop.reason):
        sink(progress.InstanceFinished(outcome.key, outcome.status, outcome.error, ""))
