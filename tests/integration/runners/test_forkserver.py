"""The fork server against real processes: same contract as a plain exec."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from choreograph.errors import RunnerError
from choreograph.plan.facts import Fact, InstanceExited
from choreograph.runners.forkserver import ForkServer
from choreograph.runners.supervise import Supervisor

SCRIPT = """
import os, sys, threading, atexit
atexit.register(lambda: print("atexit ran", flush=True))
def late():
    import time; time.sleep(0.2); print("thread finished", flush=True)
threading.Thread(target=late).start()
print("argv", sys.argv[1:], "env", os.environ.get("WHO"), "cwd", os.getcwd(), flush=True)
print("to stderr", file=sys.stderr)
sys.exit(int(os.environ["CODE"]))
"""


async def test_forked_instances_behave_like_exec_ones(tmp_path: Path) -> None:
    script = tmp_path / "plan.py"
    script.write_text(SCRIPT)
    facts: list[Fact] = []
    async with ForkServer(preload=("json",)) as server:
        sup = Supervisor(facts.append, server)
        codes = await asyncio.gather(
            *(
                sup.run_instance(
                    f"g/{i}",
                    (sys.executable, str(script), "x"),
                    {"WHO": str(i), "CODE": str(i)},
                    str(tmp_path),
                    tmp_path / str(i),
                )
                for i in range(3)
            )
        )
    assert codes == [0, 1, 2]
    for i in range(3):
        out = (tmp_path / str(i) / "run.out").read_text()
        assert f"argv ['x'] env {i} cwd {tmp_path}" in out
        # non-daemon threads are joined and atexit handlers run, as in a normal exit
        assert out.index("thread finished") < out.index("atexit ran")
        assert (tmp_path / str(i) / "run.err").read_text() == "to stderr\n"
    assert sorted(f.returncode for f in facts if isinstance(f, InstanceExited)) == [0, 1, 2]


async def test_uncaught_exception_gives_traceback_and_status_1(tmp_path: Path) -> None:
    script = tmp_path / "boom.py"
    script.write_text("raise RuntimeError('boom')\n")
    async with ForkServer(preload=()) as server:
        sup = Supervisor(lambda f: None, server)
        code = await sup.run_instance(
            "g/0", (sys.executable, str(script)), {}, str(tmp_path), tmp_path / "o"
        )
    assert code == 1
    assert "RuntimeError: boom" in (tmp_path / "o" / "run.err").read_text()


async def test_killed_instance_reports_the_signal(tmp_path: Path) -> None:
    script = tmp_path / "sleep.py"
    script.write_text("import os, time\nprint(os.getpid(), flush=True)\ntime.sleep(600)\n")
    async with ForkServer(preload=()) as server:
        sup = Supervisor(lambda f: None, server)
        task = asyncio.create_task(
            sup.run_instance(
                "g/0", (sys.executable, str(script)), {}, str(tmp_path), tmp_path / "o"
            )
        )
        out = tmp_path / "o" / "run.out"
        deadline = time.monotonic() + 10
        while not (out.exists() and out.read_text().strip()) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        os.kill(int(out.read_text()), signal.SIGKILL)
        assert await asyncio.wait_for(task, 10) == -signal.SIGKILL


async def test_spawn_after_close_is_an_error(tmp_path: Path) -> None:
    server = ForkServer(preload=())
    async with server:
        pass
    with pytest.raises(RunnerError):
        await server.spawn("g/0", (sys.executable, "x.py"), {}, str(tmp_path))


async def test_preloaded_objects_are_frozen_out_of_the_childrens_collections(
    tmp_path: Path,
) -> None:
    """A collection in an instance must not walk (and so copy) the server's preloaded
    objects: they are in the permanent generation before each fork."""
    script = tmp_path / "frozen.py"
    script.write_text("import gc, json\nprint('frozen', gc.get_freeze_count() > 1000)\n")
    async with ForkServer(preload=("json", "asyncio")) as server:
        sup = Supervisor(lambda f: None, server)
        code = await sup.run_instance(
            "g/0", (sys.executable, str(script)), {}, str(tmp_path), tmp_path / "0"
        )
    assert code == 0
    assert (tmp_path / "0" / "run.out").read_text() == "frozen True\n"
