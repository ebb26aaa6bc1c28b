"""``testground`` end to end, as Testground's integration scripts drive it: import a
folder of plans, run single with ``--wait``, read the run id with awk's field 10, ask
``status -t`` for ``Outcome:``; embedded, then through ``testground daemon``."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.ports import free_port

from .conftest import Testground

RUN = ("run", "single", "--plan=testground/placebo", "--builder=exec:python")
LOCAL = ("--runner=local:exec", "--instances=2", "--wait")


def outcome(testground: Testground, task: str) -> str:
    """``testground status -t ID | awk '/Outcome:/{ print $2 }'``."""
    status = testground("status", "-t", task)
    assert status.code == 0, status
    return status.field("Outcome:", 2)


@pytest.fixture
def imported(testground: Testground, plans: Path) -> None:
    done = testground("plan", "import", "--from", str(plans), "--name", "testground")
    assert done.code == 0, done
    assert "testground/placebo panic" in done.out
    again = testground("plan", "import", "--from", str(plans), "--name", "testground")
    assert again.code == 0 and "destination dir already exists" in again.out  # as Testground


@pytest.mark.usefixtures("imported")
def test_run_single_embedded_as_header_sh_reads_it(testground: Testground, tmp_path: Path) -> None:
    done = testground(*RUN, "--testcase=ok", *LOCAL, "--collect", "--tp", "word=hi")
    assert done.code == 0, done
    run_id = done.field("run is queued with ID", 10)
    assert done.field("finished run with ID", 9) == run_id and len(run_id) == 20
    assert outcome(testground, run_id) == "success"
    # assert_run_output_is_correct: <id>.tgz holds <id>/single/0/run.out, run.err empty.
    with tarfile.open(tmp_path / "work" / f"{run_id}.tgz") as archive:
        names = archive.getnames()
        out = archive.extractfile(f"{run_id}/single/0/run.out")
        assert out is not None and b"word=hi" in out.read()
        err = archive.extractfile(f"{run_id}/single/1/run.err")
        assert err is not None and err.read() == b""
    assert f"{run_id}/single/1/run.out" in names
    tasks = testground("tasks")
    assert run_id in tasks.out and "complete" in tasks.out


@pytest.mark.usefixtures("imported")
def test_a_failing_case_reads_failure(testground: Testground) -> None:
    done = testground(*RUN, "--testcase=panic", *LOCAL)
    assert done.code == 1, done
    run_id = done.field("run is queued with ID", 10)
    assert f"result default[{run_id}]: failure" in done.out
    assert outcome(testground, run_id) == "failure"


@pytest.mark.usefixtures("imported")
def test_a_runner_disabled_in_env_toml_cancels(testground: Testground, env: dict[str, str]) -> None:
    home = Path(env["TESTGROUND_HOME"])
    (home / ".env.toml").write_text('[runners."local:exec"]\ndisabled = true\n')
    done = testground(*RUN, "--testcase=ok", *LOCAL)
    assert done.code == 1
    assert outcome(testground, done.field("run is queued with ID", 10)) == "canceled"


@pytest.mark.usefixtures("imported")
def test_choreo_takes_testground_spellings(testground: Testground) -> None:
    done = testground(
        "run", "single", "--plan", "testground/echo", "--testcase", "ok",
        "--test-param", "word=bye", "--wait", "--messages",
        command="choreo",
    )  # fmt: skip
    assert done.code == 0, done
    assert "word=bye" in done.out


@pytest.fixture
def daemon(env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """``testground daemon`` as header.sh starts it, from ``.env.toml``; its endpoint."""
    port = free_port()
    home = Path(env["TESTGROUND_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    endpoint = f"http://localhost:{port}"
    (home / ".env.toml").write_text(
        f'[daemon]\nlisten = ":{port}"\n[client]\nendpoint = "{endpoint}"\nuser = "me"\n'
    )
    log = (tmp_path / "daemon.out").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "choreograph.cli.testground", "daemon"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{endpoint}/api/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail((tmp_path / "daemon.out").read_text())
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.mark.usefixtures("imported")
def test_through_testground_daemon(testground: Testground, daemon: str, tmp_path: Path) -> None:
    done = testground(*RUN, "--testcase=ok", *LOCAL, "--collect")
    assert done.code == 0, done
    task = done.field("run is queued with ID", 10)
    assert len(task) == 20 and done.field("finished run with ID", 9) == task
    assert outcome(testground, task) == "success"
    with tarfile.open(tmp_path / "work" / f"{task}.tgz") as archive:
        assert f"{task}/single/0/run.out" in archive.getnames()
    failed = testground(*RUN, "--testcase=panic", *LOCAL)
    assert failed.code == 1
    assert outcome(testground, failed.field("run is queued with ID", 10)) == "failure"
    listed = testground("tasks")
    assert task in listed.out
    logs = testground("logs", "-t", task)
    assert logs.code == 0 and "Outcome:\tsuccess" in logs.out


def test_the_daemon_serves_loopback_only_without_tokens(daemon: str, tmp_path: Path) -> None:
    text = (tmp_path / "daemon.out").read_text()
    assert "serving on 127.0.0.1:" in text and "listen and serve" in text


@pytest.mark.usefixtures("imported")
def test_build_through_testground_daemon(testground: Testground, daemon: str) -> None:
    """With a daemon, a build is its task, as Testground's (``build queued with ID``),
    and ``--wait`` prints the artifact a run then takes with ``--use-build``."""
    queued = testground("build", "single", "--plan=testground/placebo", "--builder=exec:python")
    assert queued.code == 0, queued
    assert len(queued.field("build queued with ID", 9)) == 20
    assert "generated build artifact" not in queued.out  # not waited for
    built = testground(
        "build", "single", "--plan=testground/placebo", "--builder=exec:python", "--wait"
    )
    assert built.code == 0, built
    task = built.field("build queued with ID", 9)
    artifact = next(
        line.split('"')[7] for line in built.out.splitlines() if "generated build artifact" in line
    )
    assert artifact and testground("status", "-t", task).code == 0
    run = testground(*RUN, "--testcase=ok", *LOCAL, f"--use-build={artifact}")
    assert run.code == 0, run
    assert outcome(testground, run.field("run is queued with ID", 10)) == "success"
