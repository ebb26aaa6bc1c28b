"""exec:generic runs a plan in any language: here bash, with no SDK at all.

``plans/shell/plan.sh`` reads ``TEST_*``, speaks the sync service's websocket protocol
over bash's ``/dev/tcp`` (handshake and framing written in the script), and reports its
outcome as a JSON event on stdout and on ``run_events``, as Testground's SDKs do.
Its manifest names the build and run commands as argument lists.
"""

from __future__ import annotations

import pytest

from .conftest import COMPAT, Choreo, require_tools

SHELL = str(COMPAT / "shell" / "plans" / "shell")


@pytest.fixture(autouse=True)
def bash() -> None:
    require_tools("bash")


def test_a_bash_plan_coordinates_through_the_sync_service(choreo: Choreo) -> None:
    run = choreo("run", "single", "--plan", SHELL, "--case", "greet", "-i", "4", "--timeout", "60")
    assert run.code == 0, run
    assert run.table_row("single") == ["4/4", "0", "0", "0"]
    assert {o["decided_by"] for o in run.instances.values()} <= {"stdout", "sync"}
    enrolled = set()
    for i in range(4):
        first, *_, last = run.messages(f"single/{i}")
        # The build step ran and the instance runs in its output.
        assert first.startswith("built by bash ")
        enrolled.add(first.rsplit("I am instance ", 1)[1])
        assert last == "heard from 1,2,3,4"
        heard = (run.run_dir / f"single/{i}/heard.txt").read_text().split()  # type: ignore[operator]
        assert sorted(heard) == ["1", "2", "3", "4"]
    assert enrolled == {f"{n} of 4" for n in range(1, 5)}


def test_a_bash_plan_failure_is_counted_once(choreo: Choreo) -> None:
    run = choreo(
        "run", "single", "--plan", SHELL, "--case", "greet", "-i", "3", "--tp", "fail_seq=2"
    )
    assert run.code == 1, run
    assert run.table_row("single") == ["2/3", "1", "0", "0"]
    [failed] = [o for o in run.instances.values() if o["status"] == "failure"]
    assert failed["error"] == "instance 2 was told to fail"


def test_an_unchanged_plan_is_built_once(choreo: Choreo) -> None:
    first = choreo("run", "single", "--plan", SHELL, "--case", "greet", "-i", "1")
    second = choreo("run", "single", "--plan", SHELL, "--case", "greet", "-i", "1")
    assert first.code == second.code == 0, (first, second)
    build = second.record["builds"]["single"]
    assert build["from_cache"] and build["build_id"] == first.record["builds"]["single"]["build_id"]
    assert "(exec:generic, groups single): cached" in second.stdout
    assert "build.sh: wrote build-info.txt" not in second.stdout  # the build step did not rerun
