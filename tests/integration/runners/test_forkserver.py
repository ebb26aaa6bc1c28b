"""The fork server against real processes: same contract as a plain exec."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
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


# --- exec mode: every other local:exec instance -------------------------------------

PROBE = r"""
import os, sys
print("argv", sys.argv[1:], flush=True)
print("cwd", os.getcwd(), flush=True)
print("sid", os.getsid(0) == os.getpid(), flush=True)
print("stdin", os.read(0, 10), flush=True)
print("err", file=sys.stderr)
sys.exit(int(os.environ["CODE"]))
"""


async def test_exec_mode_gives_exactly_what_a_plain_exec_does(tmp_path: Path) -> None:
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    env = {"CODE": "3", "PATH": os.environ["PATH"], "ONLY": "this"}
    facts: list[Fact] = []
    async with ForkServer(preload=(), exec_mode=True) as server:
        sup = Supervisor(facts.append, server)
        # a bare name, found through the instance's own PATH, as subprocess would
        code = await sup.run_instance(
            "g/0", ("python3", "-I", str(script), "a b"), env, str(tmp_path), tmp_path / "0"
        )
        # `env` prints the environment as exec'd (Python would add LC_CTYPE to its own)
        await sup.run_instance("g/1", ("env",), env, str(tmp_path), tmp_path / "1")
        # no signal ignored (Python ignores SIGPIPE and SIGXFSZ, the server SIGINT, and an
        # ignored disposition survives exec): the mask as the kernel shows it to `cat`
        await sup.run_instance(
            "g/2", ("cat", "/proc/self/status"), env, str(tmp_path), tmp_path / "2"
        )
    status = (tmp_path / "2" / "run.out").read_text().splitlines()
    # What a plain exec from this process gets: nothing ignored, unless this process was
    # itself started with signals ignored (nohup ignores SIGHUP, a shell's `&` SIGQUIT).
    plain = subprocess.run(
        ["cat", "/proc/self/status"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    ignored = [line for line in plain if line.startswith("SigIgn:")]
    assert ignored and ignored[0] in status, [s for s in status if s.startswith("Sig")]
    assert code == 3
    printed = (tmp_path / "1" / "run.out").read_text().splitlines()
    assert sorted(printed) == sorted(f"{k}={v}" for k, v in env.items())  # nothing else
    out = (tmp_path / "0" / "run.out").read_text().splitlines()
    assert out[0] == "argv ['a b']"
    assert out[1:] == [f"cwd {tmp_path}", "sid True", "stdin b''"]
    assert (tmp_path / "0" / "run.err").read_text() == "err\n"


async def test_exec_mode_restores_sigpipe_for_shell_pipelines(tmp_path: Path) -> None:
    """`yes | head -1` ends only if `yes` dies of SIGPIPE (Python ignores it; so would a
    child that inherited that)."""
    async with ForkServer(preload=(), exec_mode=True) as server:
        sup = Supervisor(lambda _: None, server)
        code = await asyncio.wait_for(
            sup.run_instance(
                "g/0",
                ("sh", "-c", "yes | head -n 1; echo done"),
                {"PATH": os.environ["PATH"]},
                str(tmp_path),
                tmp_path / "0",
            ),
            20,
        )
    assert code == 0
    assert (tmp_path / "0" / "run.out").read_text() == "y\ndone\n"


async def test_exec_mode_reports_a_missing_program_as_plain_exec_does(tmp_path: Path) -> None:
    async with ForkServer(preload=(), exec_mode=True) as server:
        sup = Supervisor(lambda _: None, server)
        with pytest.raises(RunnerError, match=r"g/0: /no/such/program: \[Errno 2\]"):
            await sup.run_instance("g/0", ("/no/such/program",), {}, str(tmp_path), tmp_path / "0")
        with pytest.raises(RunnerError, match=r"not-a-command-anywhere: \[Errno 2\]"):
            await sup.run_instance(
                "g/1",
                ("not-a-command-anywhere",),
                {"PATH": os.environ["PATH"]},
                str(tmp_path),
                tmp_path / "1",
            )
        # the server goes on serving, and reaped the failed children itself
        ok = await sup.run_instance(
            "g/2", ("true",), {"PATH": os.environ["PATH"]}, str(tmp_path), tmp_path / "2"
        )
    assert ok == 0


async def test_more_launches_than_the_socket_holds_wait_instead_of_polling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The request socket's buffer holds a few hundred requests: the rest wait for it to
    drain (at most one refused try each) while the server is stalled, not retry on a timer."""
    import socket as socket_module

    tries = 0
    real_send_fds = socket_module.send_fds

    def counting(*args: object, **kwargs: object) -> int:
        nonlocal tries
        tries += 1
        return real_send_fds(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket_module, "send_fds", counting)
    n = 400
    env = {"PATH": os.environ["PATH"]}
    facts: list[Fact] = []
    async with ForkServer(preload=(), exec_mode=True) as server:
        sup = Supervisor(facts.append, server)
        assert server._process is not None
        pid = server._process.pid
        os.kill(pid, signal.SIGSTOP)  # the server stalls: its socket fills up
        launches = asyncio.gather(
            *(
                sup.run_instance(f"g/{i}", ("true",), env, str(tmp_path), tmp_path / str(i))
                for i in range(n)
            )
        )
        await asyncio.sleep(0.3)
        os.kill(pid, signal.SIGCONT)
        codes = await launches
    assert codes == [0] * n
    assert n <= tries <= 2 * n, tries


async def test_a_forked_plan_starts_with_nothing_left_to_import(tmp_path: Path) -> None:
    """Every module a child imports is private memory in every instance: what running the
    plan's script needs (runpy imports pkgutil on each call) is imported by the server."""
    import json

    script = tmp_path / "plan.py"
    script.write_text("import json, sys\nprint(json.dumps(sorted(sys.modules)))\n")
    facts: list[Fact] = []
    async with ForkServer() as server:
        sup = Supervisor(facts.append, server)
        code = await sup.run_instance(
            "g/0", (sys.executable, str(script)), dict(os.environ), str(tmp_path), tmp_path / "0"
        )
    assert code == 0
    in_child = set(json.loads((tmp_path / "0" / "run.out").read_text()))
    preloaded = "import choreograph.runners._forkserver_main, choreograph.sdk, json, sys\n"
    preloaded += "print(json.dumps(sorted(sys.modules)))"
    in_server = set(
        json.loads(
            subprocess.run(
                [sys.executable, "-c", preloaded], capture_output=True, text=True, check=True
            ).stdout
        )
    )
    assert sorted(in_child - in_server) == []


async def test_instances_are_the_oom_killers_choice_before_choreo(tmp_path: Path) -> None:
    facts: list[Fact] = []
    script = tmp_path / "score.py"
    script.write_text("print(open('/proc/self/oom_score_adj').read().strip())\n")
    mine = Path("/proc/self/oom_score_adj").read_text().strip()
    for server in (ForkServer(preload=()), ForkServer(preload=(), exec_mode=True)):
        async with server:
            sup = Supervisor(facts.append, server)
            out = tmp_path / str(id(server))
            code = await sup.run_instance(
                "g/0", (sys.executable, str(script)), dict(os.environ), str(tmp_path), out
            )
        assert code == 0
        assert (out / "run.out").read_text() == "500\n"
    assert Path("/proc/self/oom_score_adj").read_text().strip() == mine  # ours unchanged
