"""The supervisor against real processes: tee, event parsing, exit facts, tree kill."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

from choreograph.plan.facts import Fact, InstanceEvent, InstanceExited, InstanceStarted
from choreograph.runners.supervise import Supervisor

EMIT = r"""
import json, sys
print("plain output")
print(json.dumps({"event": {"message_event": {"message": "hi"}}, "seq": 1}))
sys.stdout.write(json.dumps({"event": {"success_event": {"group": "g"}}}))  # no newline
sys.stderr.write("warn 1\nwarn 2\n")
"""


async def test_output_is_teed_and_events_reported(tmp_path: Path) -> None:
    facts: list[Fact] = []
    sup = Supervisor(facts.append)
    code = await sup.run_instance(
        "g/0", (sys.executable, "-c", EMIT), dict(os.environ), str(tmp_path), tmp_path / "out"
    )
    assert code == 0
    assert isinstance(facts[0], InstanceStarted)
    events = [f.event.kind for f in facts if isinstance(f, InstanceEvent)]
    assert events == ["message", "success"]
    exited = facts[-1]
    assert isinstance(exited, InstanceExited) and exited.returncode == 0
    assert exited.stderr_tail == "warn 1\nwarn 2\n"
    assert (tmp_path / "out" / "run.out").read_text().startswith("plain output\n")
    assert (tmp_path / "out" / "run.err").read_text() == "warn 1\nwarn 2\n"


async def test_stop_all_kills_the_whole_process_tree(tmp_path: Path) -> None:
    # The instance starts a grandchild that ignores SIGTERM; both must die.
    script = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', "
        "'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    facts: list[Fact] = []
    sup = Supervisor(facts.append)
    task = asyncio.create_task(
        sup.run_instance(
            "g/0", (sys.executable, "-c", script), dict(os.environ), str(tmp_path), tmp_path / "o"
        )
    )
    out = tmp_path / "o" / "run.out"
    deadline = time.monotonic() + 10
    while not (out.exists() and out.read_text().strip()) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    grandchild = int(out.read_text().split()[0])
    await sup.stop_all(grace_s=0.5)
    code = await asyncio.wait_for(task, 10)
    assert code < 0
    await asyncio.sleep(0.2)
    state = Path(f"/proc/{grandchild}/stat")
    assert not state.exists() or state.read_text().split()[2] == "Z"


async def test_missing_executable_is_a_runner_error(tmp_path: Path) -> None:
    from choreograph.errors import RunnerError

    sup = Supervisor(lambda f: None)
    try:
        await sup.run_instance("g/0", ("/nonexistent/bin",), {}, str(tmp_path), tmp_path / "o")
    except RunnerError as exc:
        assert "g/0" in str(exc) and "/nonexistent/bin" in str(exc)
    else:
        raise AssertionError("expected RunnerError")


async def test_launches_wait_to_be_admitted_and_a_stop_cancels_the_waiting(
    tmp_path: Path,
) -> None:
    """The memory gate: an instance starts only once admitted; one still waiting when the
    run stops never starts, and ends as killed."""
    from choreograph.runners.supervise import Launch

    gate = asyncio.Event()
    asked: list[float] = []

    @contextlib.asynccontextmanager
    async def admit() -> AsyncIterator[None]:
        asked.append(time.monotonic())
        if len(asked) > 1:
            await gate.wait()
        yield

    facts: list[Fact] = []
    sup = Supervisor(facts.append, admit=admit)
    argv = (sys.executable, "-c", "import time; time.sleep(30)")
    launches = [
        Launch(f"g/{i}", argv, dict(os.environ), str(tmp_path), tmp_path / str(i)) for i in range(3)
    ]
    stop = asyncio.Event()
    running = asyncio.create_task(sup.run_all(launches, stop, grace_s=1))
    deadline = time.monotonic() + 10
    while not any(isinstance(f, InstanceStarted) for f in facts):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)
    assert len(asked) == 3
    assert [f.key for f in facts if isinstance(f, InstanceStarted)] == ["g/0"]
    stop.set()
    await asyncio.sleep(0.1)
    gate.set()  # memory again: the waiting ones see that the run stopped
    await asyncio.wait_for(running, 10)
    assert [f.key for f in facts if isinstance(f, InstanceStarted)] == ["g/0"]
    exits = {f.key: f.returncode for f in facts if isinstance(f, InstanceExited)}
    assert exits == {"g/0": -15, "g/1": -9, "g/2": -9}


async def test_output_files_past_the_budget_are_opened_per_write(tmp_path: Path) -> None:
    """Nothing is lost when the run may not keep an instance's output files open."""
    from choreograph.runners.resource_readers import FdBudget

    budget = FdBudget(1)  # room for one of the two files
    facts: list[Fact] = []
    sup = Supervisor(facts.append, fd_budget=budget)
    code = await sup.run_instance(
        "g/0", (sys.executable, "-c", EMIT), dict(os.environ), str(tmp_path), tmp_path / "out"
    )
    assert code == 0
    assert budget.held == 0  # given back
    assert (tmp_path / "out" / "run.out").read_text().startswith("plain output\n")
    assert (tmp_path / "out" / "run.err").read_text() == "warn 1\nwarn 2\n"
    events = [f.event.kind for f in facts if isinstance(f, InstanceEvent)]
    assert events == ["message", "success"]
    silent = await Supervisor(facts.append, fd_budget=FdBudget(0)).run_instance(
        "g/1", (sys.executable, "-c", "pass"), dict(os.environ), str(tmp_path), tmp_path / "1"
    )
    assert silent == 0
    assert (tmp_path / "1" / "run.out").read_text() == ""  # created even when nothing came
