"""Supporting services with real processes: readiness probes, failures, log tails, stop."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import psutil
import pytest

from choreograph.plan.spec import ServiceSpec
from choreograph.services import env_prefix, start_all

PY = sys.executable


def spec(name: str, command: list[str], ready: str, **more: object) -> ServiceSpec:
    return ServiceSpec(name, tuple(command), ready, **more)  # type: ignore[arg-type]


async def test_http_and_command_probes_and_the_env(tmp_path: Path) -> None:
    web = spec("web-ui", [PY, "-m", "http.server", "{port}", "--bind", "{host}"], "http",
               ready_url="http://{host}:{port}/", timeout_s=20)  # fmt: skip
    marker = tmp_path / "ready-marker"
    slow = spec(
        "slow",
        [PY, "-c", f"import time, pathlib; time.sleep(0.5); pathlib.Path({str(marker)!r})"
                   ".touch(); time.sleep(60)"],
        "command", ready_command=("test", "-e", str(marker)), timeout_s=20,
    )  # fmt: skip
    async with contextlib.AsyncExitStack() as stack:
        env, problem = await start_all((web, slow), tmp_path, stack, "127.0.0.1")
        assert problem == ""
        assert marker.exists()
        port = int(env["CHOREO_SERVICE_WEB_UI_PORT"])
        assert env["CHOREO_SERVICE_WEB_UI_HOST"] == "127.0.0.1"
        assert env["CHOREO_SERVICE_WEB_UI_ADDR"] == f"127.0.0.1:{port}"
        assert "CHOREO_SERVICE_SLOW_PORT" in env
        pids = [
            p.pid
            for p in psutil.process_iter(["cmdline"])
            if str(marker) in " ".join(p.info["cmdline"] or []) or
            f"{port}" in (p.info["cmdline"] or [])
        ]  # fmt: skip
        assert len(pids) == 2
    # Closing the stack stopped both.
    assert not [pid for pid in pids if psutil.pid_exists(pid) and
                psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]  # fmt: skip
    assert (tmp_path / "services" / "web-ui.log").exists()


async def test_a_service_that_exits_fails_with_its_log_tail(tmp_path: Path) -> None:
    dying = spec("db", ["sh", "-c", "echo starting; echo 'fatal: no disk' >&2; exit 3"], "tcp",
                 timeout_s=10)  # fmt: skip
    never = spec("after", [PY, "-c", "print('never started')"], "tcp")
    async with contextlib.AsyncExitStack() as stack:
        env, problem = await start_all((dying, never), tmp_path, stack, "127.0.0.1")
    assert env == {}
    assert problem.startswith("service db exited with status 3")
    assert "starting\nfatal: no disk" in problem
    assert not (tmp_path / "services" / "after.log").exists()


async def test_a_service_that_never_listens_times_out(tmp_path: Path) -> None:
    quiet = spec("quiet", [PY, "-c", "import time; print('idle', flush=True); time.sleep(60)"],
                 "tcp", timeout_s=0.6)  # fmt: skip
    async with contextlib.AsyncExitStack() as stack:
        _, problem = await start_all((quiet,), tmp_path, stack, "127.0.0.1")
    assert "service quiet not ready after 0.6s (tcp 127.0.0.1:" in problem
    assert problem.endswith("idle")


async def test_a_missing_program_is_reported(tmp_path: Path) -> None:
    missing = spec("ghost", ["/nonexistent/ghost-server"], "tcp")
    async with contextlib.AsyncExitStack() as stack:
        _, problem = await start_all((missing,), tmp_path, stack, "127.0.0.1")
    assert problem.startswith("service ghost: cannot start /nonexistent/ghost-server")


async def test_a_service_ignoring_sigterm_is_killed_with_its_children(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import choreograph.services as services

    monkeypatch.setattr(services, "_STOP_GRACE_S", 0.3)
    code = (
        "import signal, socket, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "s = socket.create_server(('127.0.0.1', int(sys.argv[1]))); time.sleep(60)\n"
    )
    stubborn = spec("stubborn", [PY, "-c", code, "{port}"], "tcp", timeout_s=20)
    async with contextlib.AsyncExitStack() as stack:
        _, problem = await start_all((stubborn,), tmp_path, stack, "127.0.0.1")
        assert problem == ""
        me = psutil.Process(os.getpid())
        tree = [c for c in me.children(recursive=True) if "time.sleep(60)" in " ".join(c.cmdline())]
        assert len(tree) == 2  # the service and its child
    _, alive = psutil.wait_procs(tree, timeout=5)
    assert not alive


async def test_a_service_child_in_its_own_session_dies_with_the_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A child the service starts with setsid escapes its process group; the service's
    cage (a cgroup as root, else the CHOREO_CELL mark) still takes it down."""
    import choreograph.services as services

    monkeypatch.setattr(services, "_STOP_GRACE_S", 0.3)
    code = (
        "import socket, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(61)'],"
        " start_new_session=True)\n"
        "print(child.pid, flush=True)\n"
        "s = socket.create_server(('127.0.0.1', int(sys.argv[1]))); time.sleep(60)\n"
    )
    detaching = spec("detaching", [PY, "-c", code, "{port}"], "tcp", timeout_s=20)
    async with contextlib.AsyncExitStack() as stack:
        _, problem = await start_all((detaching,), tmp_path, stack, "127.0.0.1")
        assert problem == ""
        log = tmp_path / "services" / "detaching.log"
        child = psutil.Process(int(log.read_text().split()[0]))
        assert child.is_running()
    _, alive = psutil.wait_procs([child], timeout=5)
    assert not alive, "the service's detached child outlived the run"


def test_env_names() -> None:
    assert env_prefix("web-ui") == "CHOREO_SERVICE_WEB_UI"
