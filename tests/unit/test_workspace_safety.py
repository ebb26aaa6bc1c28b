"""The plan store touches nothing outside itself: names only, whole imports, no links out."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from choreograph import workspace
from choreograph.errors import HostError, InputError, PlanNotFoundError

MANIFEST = 'name = "p"\n\n[[testcases]]\nname = "c"\n'


def a_plan(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "manifest.toml").write_text(MANIFEST)
    (folder / "main.py").write_text("print('hi')\n")
    return folder


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "home" / "plans"


def test_rm_takes_names_not_paths(store: Path, tmp_path: Path) -> None:
    victim = a_plan(tmp_path / "victim")
    workspace.create_plan("mine", store)
    for ref in ("../../victim", str(victim), "..", "mine/..", "mine/../../../victim", ""):
        with pytest.raises(InputError, match="is not a valid plan name"):
            workspace.remove_plan(ref, store)
    assert (victim / "manifest.toml").is_file()
    assert workspace.list_plans(store) == ["mine"]


@pytest.mark.parametrize("name", ["../x", "/tmp/x", ".x", "a\0b", "x" * 101, "a b"])
def test_create_uses_the_same_whitelist(store: Path, name: str) -> None:
    with pytest.raises(InputError, match="is not a valid plan name"):
        workspace.create_plan(name, store)
    assert not store.exists() or list(store.iterdir()) == []


def test_rm_of_a_linked_entry_removes_the_link_only(store: Path, tmp_path: Path) -> None:
    elsewhere = a_plan(tmp_path / "my-working-copy")
    store.mkdir(parents=True)
    (store / "linked").symlink_to(elsewhere, target_is_directory=True)
    assert workspace.list_plans(store) == ["linked"]
    workspace.remove_plan("linked", store)
    assert not os.path.lexists(store / "linked")
    assert sorted(p.name for p in elsewhere.iterdir()) == ["main.py", "manifest.toml"]


def test_import_refuses_links_out_of_the_plan_and_names_each(store: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("not the plan's")
    source = a_plan(tmp_path / "src")
    (source / "data").symlink_to(outside / "secret")
    (source / "lib").symlink_to("../outside", target_is_directory=True)
    (source / "gone").symlink_to("nowhere")
    (source / "loop").symlink_to("loop")
    os.mkfifo(source / "pipe")
    with pytest.raises(InputError) as err:
        workspace.import_plan(source, store, "p")
    lines = str(err.value).splitlines()
    assert lines[0].startswith(f"cannot import {source}:")
    assert [line.removeprefix("  ") for line in lines[1:]] == [
        f"data -> {outside / 'secret'}: {outside / 'secret'} is outside the plan folder",
        "gone -> nowhere: points to nothing",
        f"lib -> ../outside: {outside} is outside the plan folder",
        "loop -> loop: points to nothing",
        "pipe: a fifo, socket or device, not a file",
    ]
    assert workspace.list_plans(store) == []
    assert not store.exists() or list(store.iterdir()) == []


def test_import_keeps_inner_links_as_links_relative_to_the_copy(
    store: Path, tmp_path: Path
) -> None:
    source = a_plan(tmp_path / "src")
    (source / "sub").mkdir()
    (source / "sub" / "main-again").symlink_to(source / "main.py")  # absolute, inside
    (source / "sub" / "top").symlink_to("..", target_is_directory=True)
    target = workspace.import_plan(source, store, "p")
    assert os.readlink(target / "sub" / "main-again") == "../main.py"
    assert os.readlink(target / "sub" / "top") == ".."
    shutil.rmtree(source)  # the copy must not depend on the source
    assert (target / "sub" / "main-again").read_text() == "print('hi')\n"
    assert workspace.list_plans(store) == ["p"]


def test_an_import_that_fills_the_disk_leaves_nothing(
    tmp_path: Path, tmpfs: Callable[..., Path]
) -> None:
    store = tmpfs(size="64k") / "plans"
    source = a_plan(tmp_path / "src")
    (source / "data.bin").write_bytes(os.urandom(100_000))
    with pytest.raises(HostError) as err:
        workspace.import_plan(source, store, "p")
    assert str(err.value) == (
        f"cannot import {store / 'p'}: no space left on device (at {source / 'data.bin'})"
    )
    assert list(store.iterdir()) == [], "neither the plan nor its temporary folder is left"


def test_dot_folders_are_never_plans(store: Path) -> None:
    a_plan(store / ".import-1234")
    a_plan(store / "real")
    assert workspace.list_plans(store) == ["real"]
    with pytest.raises(PlanNotFoundError):
        workspace.find_plan(".import-1234", store, relative_to=store.parent)
