"""The pytest plugin in a project of its own: the fixture, and a plan's cases as tests.

Each test writes a small project (a plan, a test module, an ini file) and runs
``python -m pytest`` in it, as a user's CI would, reading the verdicts from JUnit XML.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from .conftest import EXAMPLES

MANIFEST = """\
name = "cases"

[defaults]
builder = "exec:python"
runner = "local:exec"

[builders."exec:python"]
entry = "main.py"

[runners."local:exec"]

[[testcases]]
name = "agrees"
instances = { min = 1, max = 10, default = 2 }

[[testcases]]
name = "disagrees"
instances = { min = 1, max = 10, default = 2 }
"""

MAIN = """\
from choreograph.sdk import InitContext, RunEnv, invoke_map


def agrees(runenv: RunEnv, ctx: InitContext) -> None:
    ctx.sync_client.signal_and_wait("met", runenv.test_instance_count)


def disagrees(runenv: RunEnv) -> str | None:
    return "the answer was 41" if runenv.group_index == 1 else None


if __name__ == "__main__":
    invoke_map({"agrees": agrees, "disagrees": disagrees})
"""

TESTS = f"""\
SYNC = {str(EXAMPLES / "sync")!r}
FAILURE = {str(EXAMPLES / "failure")!r}


def test_sync_barrier(choreograph):
    run = choreograph.run(SYNC, "barrier", instances=3, params={{"rounds": 2}})
    assert run.success, run.summary()
    assert run.groups["single"].ok == 3
    assert run.folder.parent.parent == choreograph.home


def test_a_failure_is_data(choreograph):
    run = choreograph.run(FAILURE, "failure")
    assert not run.success
    assert "expected 54, got 42" in run.instances["single/0"].error
"""


def make_project(root: Path, plans: str = "plans/cases", timeout: str = "60") -> Path:
    (root / "plans" / "cases").mkdir(parents=True)
    (root / "plans" / "cases" / "manifest.toml").write_text(MANIFEST)
    (root / "plans" / "cases" / "main.py").write_text(MAIN)
    (root / "tests").mkdir()
    (root / "tests" / "test_distributed.py").write_text(TESTS)
    (root / "pytest.ini").write_text(
        f"[pytest]\nchoreo_plans = {plans}\nchoreo_timeout = {timeout}\n"
    )
    return root


def pytest_in(project: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    """Run pytest in ``project``; the outcome of each test by node name ("" = passed)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "CHOREO_HOME")}
    report = project / "report.xml"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--junitxml={report}", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    verdicts = {}
    if report.exists():
        for case in ET.parse(report).iter("testcase"):
            bad = case.find("failure")
            if bad is None:
                bad = case.find("error")
            verdicts[case.get("name", "")] = (
                "" if bad is None else (bad.text or bad.get("message", ""))
            )
    return proc, verdicts


def test_fixture_and_plan_cases_run_as_tests(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    proc, verdicts = pytest_in(project)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out  # one test failed
    assert set(verdicts) == {"test_sync_barrier", "test_a_failure_is_data", "agrees", "disagrees"}
    assert "1 failed, 3 passed" in out
    assert verdicts["test_sync_barrier"] == "" and verdicts["test_a_failure_is_data"] == ""
    assert verdicts["agrees"] == ""
    # The failed case shows its outcome table, not a traceback into Choreograph.
    failure = verdicts["disagrees"]
    assert "single: 1/2 ok, 1 failed" in failure, failure
    assert "single/1 failure: the answer was 41" in failure
    assert "Traceback" not in failure and "pytest_plugin.py" not in failure
    assert "plans/cases/manifest.toml::disagrees" in out


def test_a_configured_home_keeps_the_runs(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    home = tmp_path / "home"
    proc, verdicts = pytest_in(
        project,
        f"--choreo-home={home}",
        "plans/cases/manifest.toml::agrees",
        "tests/test_distributed.py::test_sync_barrier",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert verdicts == {"test_sync_barrier": "", "agrees": ""}
    assert len(list((home / "runs").iterdir())) == 2

    # The plan's cases carry a marker, so a quick job can leave them out.
    proc, verdicts = pytest_in(project, "-m", "not choreograph")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert set(verdicts) == {"test_sync_barrier", "test_a_failure_is_data"}


def test_bad_settings_are_usage_errors(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project", plans="plans")
    proc, _ = pytest_in(project)
    assert proc.returncode == 4, proc.stdout + proc.stderr  # pytest's usage error
    assert "choreo_plans:" in proc.stderr and "has no manifest.toml" in proc.stderr

    project = make_project(tmp_path / "other", timeout="soon")
    proc, _ = pytest_in(project)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "choreo_timeout: expected seconds > 0, found 'soon'" in proc.stderr
