"""A home folder that cannot be used is one HomeError naming it and the cause."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from choreograph.config import HomeError, load_settings
from choreograph.errors import InputError


def home_error(monkeypatch: pytest.MonkeyPatch, home: Path) -> str:
    monkeypatch.setenv("CHOREO_HOME", str(home))
    with pytest.raises(HomeError) as err:
        load_settings()
    assert isinstance(err.value, InputError), "bad input: exit status 2"
    return str(err.value)


def test_home_that_is_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.write_text("")
    assert home_error(monkeypatch, home) == f"CHOREO_HOME={home} is a file, not a folder"


def test_home_below_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    home = tmp_path / "file" / "home"
    assert home_error(monkeypatch, home) == (
        f"cannot create CHOREO_HOME={home}: {tmp_path / 'file'} is a file, not a folder"
    )


def test_home_that_is_a_dangling_link(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.symlink_to(tmp_path / "gone")
    assert home_error(monkeypatch, home) == (
        f"CHOREO_HOME={home} is a link to {tmp_path / 'gone'}, which does not exist"
    )


def test_read_only_home(monkeypatch: pytest.MonkeyPatch, tmpfs: Callable[..., Path]) -> None:
    home = tmpfs(read_only=True)
    assert home_error(monkeypatch, home) == (
        f"cannot write in CHOREO_HOME={home}: read-only file system"
    )
    assert home_error(monkeypatch, home / "sub") == (
        f"cannot create CHOREO_HOME={home / 'sub'}: read-only file system"
    )


def test_a_new_home_is_created(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CHOREO_HOME", str(tmp_path / "a" / "home"))
    assert load_settings().home.is_dir()
    assert list((tmp_path / "a" / "home").iterdir()) == [], "the write probe leaves nothing"
