"""The plan store takes ``group/plan`` names (Testground's import of a folder of plans),
and nothing that would leave it."""

from __future__ import annotations

from pathlib import Path

import pytest

from choreograph import workspace
from choreograph.errors import InputError, PlanNotFoundError

from .conftest import write_plan


def test_a_folder_of_plans_imports_each_under_the_name(plans: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    paths = workspace.import_plans(plans, store, "testground")
    assert [p.relative_to(store).as_posix() for p in paths] == [
        "testground/echo",
        "testground/placebo",
    ]
    assert workspace.list_plans(store) == ["testground/echo", "testground/placebo"]
    assert (
        workspace.find_plan("testground/placebo", store) == (store / "testground/placebo").resolve()
    )
    # A composition's `plan = "testground/placebo"` resolves from anywhere.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert workspace.find_plan("testground/placebo", store, relative_to=elsewhere).name == "placebo"


def test_the_default_name_is_the_folder_s(plans: Path, tmp_path: Path) -> None:
    workspace.import_plans(plans, tmp_path / "store")
    assert workspace.list_plans(tmp_path / "store") == ["src-plans/echo", "src-plans/placebo"]


def test_a_clash_imports_nothing(plans: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    write_plan(store / "tg" / "placebo", "placebo")
    with pytest.raises(InputError, match="already exists"):
        workspace.import_plans(plans, store, "tg")
    assert workspace.list_plans(store) == ["tg/placebo"]  # echo was not copied either


@pytest.mark.parametrize("name", ["../x", "/abs", "a/../b", "a//b", "a/", ".hidden/p", "a/b/c/d/e"])
def test_names_that_would_leave_the_store_are_refused(
    plans: Path, tmp_path: Path, name: str
) -> None:
    with pytest.raises(InputError, match="not a valid plan name"):
        workspace.import_plan(plans / "echo", tmp_path / "store", name)
    with pytest.raises(PlanNotFoundError):
        workspace.find_plan(name, tmp_path / "store")


def test_no_plan_is_made_through_a_link_or_inside_a_plan(plans: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    outside = tmp_path / "outside"
    outside.mkdir()
    store.mkdir()
    (store / "linked").symlink_to(outside)
    with pytest.raises(InputError, match="not a folder of the store"):
        workspace.import_plan(plans / "echo", store, "linked/echo")
    assert list(outside.iterdir()) == []
    write_plan(store / "host", "host")
    with pytest.raises(InputError, match="inside the plan"):
        workspace.import_plan(plans / "echo", store, "host/echo")


def test_removing_a_plan_or_its_folder(plans: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    workspace.import_plans(plans, store, "tg")
    workspace.remove_plan("tg/echo", store)
    assert workspace.list_plans(store) == ["tg/placebo"]
    workspace.remove_plan("tg", store)
    assert workspace.list_plans(store) == [] and not (store / "tg").exists()
    with pytest.raises(PlanNotFoundError):
        workspace.remove_plan("tg", store)
