"""Fixtures every test folder may use."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

MountTmpfs = Callable[..., Path]


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[MountTmpfs]:
    """Mount a small tmpfs: ``tmpfs(size="64k", read_only=False, full=False) -> folder``.

    A full or read-only file system cannot be faked with mode bits when tests run as
    root (root ignores them), so the tests that need one get a real one; they are
    skipped, with the reason, where mounting is not allowed. Unmounted at teardown.
    """
    mounted: list[Path] = []

    def mount(size: str = "64k", read_only: bool = False, full: bool = False) -> Path:
        if os.geteuid() != 0:
            pytest.skip("mounting a tmpfs needs root")
        folder = tmp_path / f"tmpfs-{len(mounted)}"
        folder.mkdir()
        options = f"size={size}" + (",ro" if read_only else "")
        proc = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
        mounted.append(folder)
        if full:
            _fill(folder)
        return folder

    yield mount
    for folder in reversed(mounted):
        subprocess.run(["umount", "--lazy", str(folder)], check=True)


def _fill(folder: Path) -> None:
    """Write into ``folder`` until its file system has no space left."""
    fd = os.open(folder / ".filler", os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError as exc:
        assert exc.errno == errno.ENOSPC, exc
    finally:
        os.close(fd)


# Plans whose cold build takes minutes, built once per session before the first test.
from .prebuild import (  # noqa: E402, F401  (hooks and fixtures count by being here)
    _prebuilt,
    pytest_collection_finish,
    pytest_configure,
    pytest_unconfigure,
    shared_builds,
)
