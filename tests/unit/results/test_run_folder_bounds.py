"""The run folder refuses instance keys that would put files outside it (defence in depth:
group ids are checked when the composition is read)."""

from __future__ import annotations

from pathlib import Path

import pytest

from choreograph.errors import InputError
from choreograph.results.layout import RunLayout


@pytest.mark.parametrize("key", ["../../../escaped/0", "g/../../x", "../0", "/abs/0", "/"])
def test_instance_dir_outside_the_run_is_refused(tmp_path: Path, key: str) -> None:
    with pytest.raises(InputError, match="outside"):
        RunLayout(tmp_path, "r1").instance_dir(key)


@pytest.mark.parametrize("key", ["../../../escaped/0", "../x", "/etc/x", ""])
def test_temp_dir_outside_the_run_temp_folder_is_refused(tmp_path: Path, key: str) -> None:
    with pytest.raises(InputError, match="outside"):
        RunLayout(tmp_path, "r1").temp_dir(key)


def test_a_symlinked_group_folder_is_followed_and_refused(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path / "runs", "r1")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    layout.root.mkdir(parents=True)
    (layout.root / "g").symlink_to(elsewhere)
    with pytest.raises(InputError, match=str(elsewhere)):
        layout.instance_dir("g/0")


def test_ordinary_keys_stay_where_they_were(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path, "r1")
    assert layout.instance_dir("grp/3") == tmp_path / "r1" / "grp" / "3"
    assert layout.temp_dir("grp/3") == tmp_path / "r1" / ".tmp" / "grp" / "3"
    runs = tmp_path / "linked-runs"
    runs.symlink_to(tmp_path, target_is_directory=True)  # a home on another disk
    assert RunLayout(runs, "r1").instance_dir("g/0") == runs / "r1" / "g" / "0"
