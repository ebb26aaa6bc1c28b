"""``collect`` archives what belongs to the run: no content reached through a link."""

from __future__ import annotations

import os
import socket
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from choreograph.errors import HostError
from choreograph.results import collect
from choreograph.results.collect import collect_run
from choreograph.results.layout import RunLayout


@pytest.fixture
def run(tmp_path: Path) -> RunLayout:
    """A run folder whose instance left every kind of link to a secret outside it."""
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "key").write_text("do not archive")
    layout = RunLayout(tmp_path / "runs", "r1")
    layout.write_run_json({"status": "success"})
    out = layout.instance_dir("g/0")
    out.mkdir(parents=True)
    (out / "run.out").write_text("ok\n")
    (out / "results").mkdir()
    (out / "results" / "data.csv").write_text("1,2\n")
    (out / "file-link").symlink_to(secret / "key")
    (out / "folder-link").symlink_to(secret, target_is_directory=True)
    os.link(secret / "key", out / "hard-link")
    os.mkfifo(out / "fifo")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(out / "socket"))
    layout.temp_dir("g/0").mkdir(parents=True)
    (layout.temp_dir("g/0") / "scratch").write_text("not a result")
    return layout


def archived(path: Path) -> dict[str, bytes | None]:
    with tarfile.open(path) as tar:
        return {m.name: (f.read() if (f := tar.extractfile(m)) else None) for m in tar.getmembers()}


def test_only_the_runs_own_files_and_folders_are_archived(run: RunLayout, tmp_path: Path) -> None:
    report = collect_run(run, tmp_path / "r1.tgz")
    assert archived(tmp_path / "r1.tgz") == {
        "r1": None,
        "r1/g": None,
        "r1/g/0": None,
        "r1/g/0/results": None,
        "r1/g/0/results/data.csv": b"1,2\n",
        "r1/g/0/run.out": b"ok\n",
        "r1/run.json": run.run_json.read_bytes(),
    }
    assert report.files == 3
    assert report.skipped == {collect.SYMLINK: 2, collect.HARD_LINK: 1, collect.SPECIAL: 2}
    assert report.skipped_summary() == (
        "left out 5 entries: 1 hard-linked file (content may belong to another file), "
        "2 devices, fifos or sockets (not outputs), 2 symlinks (never followed)"
    )
    assert report.size == (tmp_path / "r1.tgz").stat().st_size


def test_an_archive_written_inside_the_run_does_not_hold_itself(run: RunLayout) -> None:
    target = run.root / "r1.tgz"
    collect_run(run, target)
    assert not [name for name in archived(target) if "tgz" in name]


def test_a_full_disk_leaves_the_previous_archive_and_no_half_one(
    run: RunLayout, tmpfs: Callable[..., Path]
) -> None:
    folder = tmpfs(size="64k")
    target = folder / "r1.tgz"
    target.write_bytes(b"previous archive")
    (run.instance_dir("g/0") / "big.bin").write_bytes(os.urandom(100_000))  # incompressible
    with pytest.raises(HostError) as err:
        collect_run(run, target)
    assert str(err.value) == f"cannot write {target}: no space left on device"
    assert target.read_bytes() == b"previous archive"
    assert [p.name for p in folder.iterdir()] == ["r1.tgz"]
