"""Nothing outside the store or the run folder is touched, and an unusable home folder
is one line, as a user meets them through ``choreo``."""

from __future__ import annotations

import os
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from choreograph.results.layout import RunLayout

from .conftest import EXAMPLES, Choreo

RULE = "use letters, digits, '-', '_', '.' (not starting with '.')"


def a_plan(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "manifest.toml").write_text('name = "p"\n\n[[testcases]]\nname = "c"\n')
    return folder


def one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0].removeprefix("error: ")


def test_plan_rm_takes_names_from_the_store_only(choreo: Choreo, tmp_path: Path) -> None:
    victim = a_plan(tmp_path / "victim")
    relative = os.path.relpath(victim, choreo.home / "plans")
    for ref in (relative, str(victim)):
        proc = choreo("plan", "rm", ref)
        assert proc.returncode == 2
        assert one_error_line(proc.stderr).startswith(f"{ref!r} is not a valid plan name: {RULE}")
    assert (victim / "manifest.toml").is_file()


def test_plan_rm_of_a_linked_entry_removes_only_the_link(choreo: Choreo, tmp_path: Path) -> None:
    working_copy = a_plan(tmp_path / "working-copy")
    (choreo.home / "plans").mkdir(parents=True)
    (choreo.home / "plans" / "linked").symlink_to(working_copy, target_is_directory=True)
    proc = choreo("plan", "rm", "linked")
    assert proc.returncode == 0, proc.stderr
    assert not os.path.lexists(choreo.home / "plans" / "linked")
    assert (working_copy / "manifest.toml").is_file()


@pytest.mark.parametrize(
    ("link", "problem"),
    [
        ("/etc/passwd", "/etc/passwd is outside the plan folder"),
        ("../outside", "{outside} is outside the plan folder"),
        ("nowhere", "points to nothing"),
    ],
)
def test_plan_import_refuses_links_out_and_imports_nothing(
    choreo: Choreo, tmp_path: Path, link: str, problem: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    source = a_plan(tmp_path / "src")
    (source / "data").symlink_to(link)
    proc = choreo("plan", "import", "--from", str(source), "--name", "p")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert f"data -> {link}: {problem.format(outside=outside)}" in proc.stderr
    assert "no plans" in choreo("plan", "list").stdout
    assert not (choreo.home / "plans").exists(), "no half import, no temp folder"


def test_escaping_group_id_is_refused_before_anything_is_written(
    choreo: Choreo, tmp_path: Path
) -> None:
    work = tmp_path / "a" / "b" / "c"
    work.mkdir(parents=True)
    composition = work / "composition.toml"
    composition.write_text(
        f'[global]\nplan = "{EXAMPLES / "sync"}"\ncase = "all"\ntotal_instances = 2\n\n'
        '[[groups]]\nid = "ok"\ninstances = { count = 1 }\n\n'
        '[[groups]]\nid = "../../../escaped"\ninstances = { count = 1 }\n'
    )
    proc = choreo("run", "composition", "-f", str(composition))
    assert proc.returncode == 2
    assert one_error_line(proc.stderr) == (
        f"{composition}:11: groups#2.id: '../../../escaped' is not a valid group id: {RULE}"
    )
    assert not list(tmp_path.rglob("escaped")) and choreo.runs() == []


def test_collect_archives_no_content_reached_through_links(choreo: Choreo, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("not the run's")
    layout = RunLayout(choreo.home / "runs", "20260101-000000-000abcdef")
    layout.write_run_json({"status": "success"})
    out = layout.instance_dir("g/0")
    out.mkdir(parents=True)
    (out / "run.out").write_text("ok\n")
    os.link(secret, out / "hard-link")
    (out / "soft-link").symlink_to(secret)
    archive = tmp_path / "run.tgz"
    proc = choreo("collect", layout.run_id, "-o", str(archive))
    assert proc.returncode == 0, proc.stderr
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == [
            layout.run_id,
            f"{layout.run_id}/g",
            f"{layout.run_id}/g/0",
            f"{layout.run_id}/g/0/run.out",
            f"{layout.run_id}/run.json",
        ]
    assert proc.stderr.splitlines() == [
        "warning: left out 2 entries: 1 hard-linked file (content may belong to another "
        "file), 1 symlink (never followed)"
    ]


@pytest.mark.parametrize(
    "command",
    [
        ("plan", "create", "demo"),
        ("plan", "import", "--from", str(EXAMPLES / "sync")),
        ("run", "single", "--plan", str(EXAMPLES / "sync"), "--case", "barrier"),
        ("collect", "some-run"),
        ("logs", "some-run"),
    ],
)
def test_a_home_that_is_a_file_is_one_line_and_exit_2(
    choreo: Choreo, command: tuple[str, ...]
) -> None:
    choreo.home.write_text("")
    proc = choreo(*command)
    assert proc.returncode == 2
    assert one_error_line(proc.stderr) == f"CHOREO_HOME={choreo.home} is a file, not a folder"


def test_a_read_only_home_is_one_line_and_exit_2(
    choreo: Choreo, tmpfs: Callable[..., Path]
) -> None:
    choreo.home = tmpfs(read_only=True)
    proc = choreo("plan", "create", "demo")
    assert proc.returncode == 2
    assert one_error_line(proc.stderr) == (
        f"cannot write in CHOREO_HOME={choreo.home}: read-only file system"
    )


def test_a_full_disk_is_one_line_and_leaves_no_half_file(
    choreo: Choreo, tmpfs: Callable[..., Path]
) -> None:
    choreo.home = tmpfs(full=True)
    proc = choreo("plan", "create", "demo")
    assert proc.returncode != 0
    plans = choreo.home / "plans"
    assert one_error_line(proc.stderr) == f"cannot create {plans / 'demo'}: no space left on device"
    assert os.listdir(plans) == []
    proc = choreo("run", "single", "--plan", str(EXAMPLES / "sync"), "--case", "barrier", "-i", "1")
    assert proc.returncode != 0
    assert one_error_line(proc.stderr).endswith("/run.json: no space left on device")
    assert [os.listdir(run) for run in choreo.runs()] == [[]], "no run.json, whole or half"
