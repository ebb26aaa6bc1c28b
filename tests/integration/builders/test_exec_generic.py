"""exec:generic: build and run commands as argument lists, builds cached by content."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest

from choreograph.builders.exec_generic import ExecGenericBuilder
from choreograph.errors import BuildError
from choreograph.plan.spec import Dependency

from .conftest import Builds, gone, wait_for_file

RUN_SH = '#!/bin/sh\nfor arg in "$@"; do echo "[$arg]"; done\ncat built.txt\n'
# Counts its runs in $BUILD_COUNTER (outside the build), leaves its output in the build.
BUILD = ["sh", "-c", 'echo run >> "$BUILD_COUNTER"; echo "built from $(ls plan.txt)" > built.txt']


@pytest.fixture
def builds(tmp_path: Path) -> Builds:
    return Builds(ExecGenericBuilder(), tmp_path / "builds")


@pytest.fixture
def plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "plan"
    folder.mkdir()
    (folder / "plan.txt").write_text("v1\n")
    (folder / "run.sh").write_text(RUN_SH)
    (folder / "run.sh").chmod(0o755)
    monkeypatch.setenv("BUILD_COUNTER", str(tmp_path / "counter"))
    return folder


def build_count(plan: Path) -> int:
    counter = plan.parent / "counter"
    return len(counter.read_text().split()) if counter.exists() else 0


async def test_build_runs_in_the_build_folder_and_run_args_pass_verbatim(
    builds: Builds, plan: Path
) -> None:
    args = ["two words", "$HOME; rm -rf /", "*", ""]
    artifact = await builds(plan, {"build": BUILD, "run": ["./run.sh", *args]})
    src = builds.root / "exec-generic" / artifact.build_id / "src"
    assert artifact.argv == (str(src / "run.sh"), *args)
    assert artifact.cwd == str(src) and not artifact.from_cache
    assert (src / "built.txt").read_text() == "built from plan.txt\n"
    assert not (plan / "built.txt").exists()  # the plan folder is never written to
    # No shell between the manifest and the program: every argument arrives as written.
    out = subprocess.run(artifact.argv, cwd=artifact.cwd, capture_output=True, text=True)
    assert out.stdout.splitlines() == [f"[{arg}]" for arg in args] + ["built from plan.txt"]
    assert artifact.provenance == {"build": BUILD, "run": ["./run.sh", *args]}


async def test_a_program_name_without_a_slash_is_left_to_path(builds: Builds, plan: Path) -> None:
    artifact = await builds(plan, {"run": ["sh", "run.sh", "x"]})
    assert artifact.argv == ("sh", "run.sh", "x")
    assert "built.txt" not in os.listdir(artifact.cwd)  # no build command: staged sources only


async def test_an_unchanged_plan_reuses_its_build(builds: Builds, plan: Path) -> None:
    config = {"build": BUILD, "run": ["./run.sh"]}
    first = await builds(plan, config)
    second = await builds(plan, config)
    assert not first.from_cache and second.from_cache
    assert (second.build_id, second.argv) == (first.build_id, first.argv)
    assert build_count(plan) == 1
    assert builds.entries() == [first.build_id]


@pytest.mark.parametrize("change", ["source", "new file", "build command", "run command"])
async def test_a_change_that_matters_rebuilds(builds: Builds, plan: Path, change: str) -> None:
    config: dict[str, object] = {"build": BUILD, "run": ["./run.sh"]}
    first = await builds(plan, config)
    if change == "source":
        (plan / "plan.txt").write_text("v2\n")
    elif change == "new file":
        (plan / "sub").mkdir()
        (plan / "sub" / "extra.txt").write_text("more")
    elif change == "build command":
        config = {**config, "build": [*BUILD[:-1], BUILD[-1] + " # v2"]}
    else:
        config = {**config, "run": ["./run.sh", "--fast"]}
    second = await builds(plan, config)
    assert second.build_id != first.build_id and not second.from_cache
    assert build_count(plan) == 2
    assert builds.entries() == sorted([first.build_id, second.build_id])


async def test_outputs_of_earlier_builds_do_not_change_the_key(builds: Builds, plan: Path) -> None:
    first = await builds(plan, {"run": ["./run.sh"]})
    for ignored in ("node_modules", "__pycache__", ".git"):
        (plan / ignored).mkdir()
        (plan / ignored / "junk").write_text("not a source")
    assert (await builds(plan, {"run": ["./run.sh"]})).build_id == first.build_id


async def test_a_failed_build_shows_its_output_and_leaves_nothing(
    builds: Builds, plan: Path
) -> None:
    failing = ["sh", "-c", "echo compiling; echo 'plan.c:3: error: expected ;' >&2; exit 4"]
    with pytest.raises(BuildError) as caught:
        await builds(plan, {"build": failing, "run": ["./run.sh"]}, plan="tiny")
    message = str(caught.value)
    assert message.startswith("plan 'tiny' (groups single): ")
    assert "failed with exit status 4" in message and "sh -c echo compiling" in message
    assert "compiling" in message and "plan.c:3: error: expected ;" in message
    assert builds.entries() == []  # no partial build, nothing a later run could reuse
    # A fixed plan builds normally afterwards.
    assert not (await builds(plan, {"build": BUILD, "run": ["./run.sh"]})).from_cache


async def test_a_missing_build_tool_is_named(builds: Builds, plan: Path) -> None:
    config = {"build": ["no-such-compiler-4f1", "all"], "run": ["./run.sh"]}
    with pytest.raises(BuildError, match="build tool 'no-such-compiler-4f1' is not installed"):
        await builds(plan, config)
    assert builds.entries() == []


@pytest.mark.parametrize(
    ("config", "field", "found"),
    [
        ({}, "run", "None"),
        ({"run": "./run.sh --fast"}, "run", "'./run.sh --fast'"),
        ({"run": []}, "run", "[]"),
        ({"run": ["./run.sh", 3]}, "run", "['./run.sh', 3]"),
        ({"run": ["./run.sh"], "build": "make all"}, "build", "'make all'"),
        ({"run": ["./run.sh"], "build": []}, "build", "[]"),
    ],
)
async def test_bad_commands_are_refused_before_anything_runs(
    builds: Builds, plan: Path, config: dict[str, object], field: str, found: str
) -> None:
    with pytest.raises(BuildError) as caught:
        await builds(plan, config)
    message = str(caught.value)
    assert f'[builders."exec:generic"] {field} must be a non-empty list of strings' in message
    assert message.endswith(f"found {found}")
    assert "plan 'tiny'" in message
    assert not builds.root.exists()


async def test_per_group_dependencies_are_refused(builds: Builds, plan: Path) -> None:
    with pytest.raises(BuildError, match="does not apply per-group dependencies"):
        await builds(plan, {"run": ["./run.sh"]}, dependencies=(Dependency("libfoo", "1.2"),))


async def test_processes_a_build_leaves_behind_neither_hold_it_nor_survive(
    builds: Builds, plan: Path
) -> None:
    # The background job keeps the build's output pipe open for a minute.
    leaves_a_job = ["sh", "-c", "sleep 60 & echo $! > bg.pid; echo started"]
    artifact = await asyncio.wait_for(builds(plan, {"build": leaves_a_job, "run": ["x"]}), 10)
    assert "started" in builds.log
    assert await gone(int((Path(artifact.cwd) / "bg.pid").read_text()))


async def test_an_interrupted_build_kills_its_processes_and_leaves_nothing(
    builds: Builds, plan: Path, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pids"
    slow = ["sh", "-c", f"sleep 60 & echo $$ $! > {pid_file}; wait"]
    building = asyncio.create_task(builds(plan, {"build": slow, "run": ["x"]}))
    pids = [int(pid) for pid in (await wait_for_file(pid_file)).split()]
    building.cancel()
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(5):  # promptly: not when the background job ends
            await building
    assert all([await gone(pid) for pid in pids])  # the shell and its background job
    assert builds.entries() == []


async def test_concurrent_builds_of_one_plan_both_succeed(builds: Builds, plan: Path) -> None:
    slow = ["sh", "-c", "sleep 0.3; echo done > built.txt"]
    config = {"build": slow, "run": ["./run.sh"]}
    first, second = await asyncio.gather(builds(plan, config), builds(plan, config))
    assert first.build_id == second.build_id and first.argv == second.argv
    assert builds.entries() == [first.build_id]
    assert (Path(first.cwd) / "built.txt").read_text() == "done\n"
    assert (await builds(plan, config)).from_cache
