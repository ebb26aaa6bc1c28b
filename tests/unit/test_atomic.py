"""Records are written whole or not at all, and a full disk is one clear error."""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from choreograph import atomic
from choreograph.builders.records import record_build
from choreograph.errors import HostError
from choreograph.plan.spec import Artifact
from choreograph.results.layout import RunLayout, write_json

MountTmpfs = Callable[..., Path]  # the ``tmpfs`` fixture of tests/conftest.py


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_a_full_disk_keeps_the_previous_record_and_leaves_no_temp_file(
    tmpfs: MountTmpfs,
) -> None:
    layout = RunLayout(tmpfs(size="64k"), "r1")
    layout.write_run_json({"status": "running"})
    filler = layout.runs_dir / "filler"
    filler.write_bytes(os.urandom(64 * 1024 - 8192))  # leaves less than the next record
    with pytest.raises(HostError) as err:
        layout.write_run_json({"status": "success", "padding": "x" * 20_000})
    assert str(err.value) == f"cannot write {layout.run_json}: no space left on device"
    assert isinstance(err.value.__cause__, OSError) and err.value.__cause__.errno == errno.ENOSPC
    assert layout.read_run_json() == {"status": "running"}
    assert leftovers(layout.root) == []


def test_series_json_goes_through_the_same_writer(tmpfs: MountTmpfs) -> None:
    folder = tmpfs(size="64k", full=True)
    with pytest.raises(HostError, match=r"series\.json: no space left on device"):
        write_json(folder / "s-1" / "series.json", {"runs": list(range(5000))})
    assert not (folder / "s-1" / "series.json").exists()
    assert leftovers(folder / "s-1") == []


def test_build_records_go_through_the_same_writer(tmpfs: MountTmpfs) -> None:
    builds = tmpfs(size="64k", full=True)
    artifact = Artifact("exec:python", "b" * 16, ("python", "main.py") * 2000, cwd="")
    with pytest.raises(HostError, match="no space left on device"):
        record_build(builds, "plan", Path("/plans/plan"), ("g",), artifact)
    assert list((builds / "_records").iterdir()) == []


def test_an_error_of_the_caller_propagates_unchanged_and_removes_the_temp_file(
    tmp_path: Path,
) -> None:
    target = tmp_path / "archive.tgz"
    target.write_bytes(b"previous")
    with pytest.raises(FileNotFoundError), atomic.replacing(target) as out:
        out.write(b"half")
        open(tmp_path / "missing-input")  # noqa: SIM115 - an error about another file
    assert target.read_bytes() == b"previous"
    assert leftovers(tmp_path) == []


def test_a_write_error_becomes_a_storage_error(tmp_path: Path) -> None:
    target = tmp_path / "run.json"
    with (
        pytest.raises(HostError, match=r"run\.json: input/output error"),
        atomic.replacing(target),
    ):
        raise OSError(errno.EIO, os.strerror(errno.EIO))
    assert not target.exists() and leftovers(tmp_path) == []


def test_json_round_trip(tmp_path: Path) -> None:
    atomic.write_json(tmp_path / "a" / "b.json", {"x": [1, 2]})
    assert json.loads((tmp_path / "a" / "b.json").read_text()) == {"x": [1, 2]}
