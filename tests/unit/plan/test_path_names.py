"""Names that become folder names are checked where the plan files are read, with lines."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from choreograph.errors import PlanError
from choreograph.plan import load_composition, load_manifest
from choreograph.plan.path_names import MAX_LENGTH, path_name_problem

RULE = "use letters, digits, '-', '_', '.' (not starting with '.')"
BAD = ["../../../escaped", "..", ".", ".hidden", "a/b", "/etc", "a\0b", "a b", "é", "x\n"]


@pytest.mark.parametrize("name", ["ping-pong", "v1.2", "_private", "a_b-c.d", "-x", "9"])
def test_ordinary_names_pass(name: str) -> None:
    assert path_name_problem(name, "group id") is None


@pytest.mark.parametrize("name", [*BAD, ""])
def test_names_that_could_leave_a_folder_are_refused(name: str) -> None:
    assert path_name_problem(name, "group id") == f"{name!r} is not a valid group id: {RULE}"


def test_length_is_bounded() -> None:
    assert path_name_problem("a" * MAX_LENGTH, "plan name") is None
    problem = path_name_problem("a" * (MAX_LENGTH + 1), "plan name")
    assert problem is not None and problem.endswith(f"use at most {MAX_LENGTH} characters")
    assert "a" * (MAX_LENGTH + 1) not in problem, "the start of a long name, not all of it"


# One group "g" of one instance, in lines 1-6; each test adds the entry under test.
COMPOSITION = '[global]\nplan = "p"\ncase = "c"\n[[groups]]\nid = "g"\ninstances = { count = 1 }\n'


def errors_of(loader: Callable[[Path], object], path: Path, text: str) -> list[str]:
    path.write_text(textwrap.dedent(text))
    with pytest.raises(PlanError) as err:
        loader(path)
    return [str(issue) for issue in err.value.issues]


def test_group_id_that_escapes_the_run_folder_is_a_located_error(tmp_path: Path) -> None:
    path = tmp_path / "composition.toml"
    text = COMPOSITION + '[[groups]]\nid = "../../../escaped"\ninstances = { count = 1 }\n'
    assert errors_of(load_composition, path, text) == [
        f"{path}:8: groups#2.id: '../../../escaped' is not a valid group id: {RULE}"
    ]


def test_group_id_of_a_run_is_checked_too(tmp_path: Path) -> None:
    path = tmp_path / "composition.toml"
    text = COMPOSITION + '[[runs]]\nid = "r"\n[[runs.groups]]\nid = "/tmp/x"\ngroup_id = "g"\n'
    assert errors_of(load_composition, path, text) == [
        f"{path}:10: runs#1.groups#1.id: '/tmp/x' is not a valid group id: {RULE}"
    ]


def test_plan_and_case_names_are_checked_in_the_manifest(tmp_path: Path) -> None:
    path = tmp_path / "manifest.toml"
    text = """\
        name = "../plans/other"

        [[testcases]]
        name = "ok"

        [[testcases]]
        name = "a/../../b"
        """
    assert errors_of(load_manifest, path, text) == [
        f"{path}:1: name: '../plans/other' is not a valid plan name: {RULE}",
        f"{path}:7: testcases#2.name: 'a/../../b' is not a valid test case name: {RULE}",
    ]
