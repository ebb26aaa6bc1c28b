"""A Go plan builds as ``go build`` builds it in a freshly written folder, whatever its
files' modification times. Testground's ``placebo`` keeps a deliberately unparsable
``selector.go`` behind build tags; once every file is a few seconds old, Go reads the
folder through its module index, which reported that excluded file's syntax error
(``selector.go:4:1: expected 'package'``), so a checkout with old times failed to build.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from choreograph.builders.base import BuildContext
from choreograph.builders.docker_go import GoDockerfile, go_dockerfile, host_go_env
from choreograph.builders.exec_go import ExecGoBuilder, go_env
from choreograph.plan.spec import BuildRequest

pytestmark = pytest.mark.skipif(shutil.which("go") is None, reason="needs go")

MAIN_GO = 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("built") }\n'
SELECTOR_GO = "//go:build foo && bar\n// +build foo,bar\n\nthis is garbage.\n"
OLD = 1_600_000_000  # 2020: older than any "recently modified" window


@pytest.fixture
def plan(tmp_path: Path) -> Path:
    folder = tmp_path / "placebo"
    folder.mkdir()
    (folder / "go.mod").write_text("module example.com/placebo\n\ngo 1.16\n")
    (folder / "main.go").write_text(MAIN_GO)
    (folder / "selector.go").write_text(SELECTOR_GO)
    for path in (*folder.iterdir(), folder):
        os.utime(path, (OLD, OLD))
    return folder


async def test_a_tag_excluded_unparsable_file_with_old_times_builds(
    plan: Path, tmp_path: Path
) -> None:
    request = BuildRequest(plan="placebo", plan_dir=plan, builder="exec:go", groups=("single",))
    ctx = BuildContext(builds_dir=tmp_path / "builds", log=lambda _: None)
    artifact = await ExecGoBuilder().build(request, ctx)
    done = subprocess.run(artifact.argv, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "built"


def test_go_runs_without_its_module_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GODEBUG", "http2client=0")
    assert go_env(tmp_path)["GODEBUG"] == "http2client=0,goindex=0"
    assert host_go_env()["GODEBUG"] == "http2client=0,goindex=0"
    monkeypatch.delenv("GODEBUG")
    assert go_env(tmp_path)["GODEBUG"] == "goindex=0"
    dockerfile = go_dockerfile(GoDockerfile(hooks={}, copies=("plan",)))
    assert "ENV GODEBUG=goindex=0" in dockerfile
