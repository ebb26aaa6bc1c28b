"""Every plan-file error names a line: the locator, syntax errors, unreadable files."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from choreograph.errors import PlanError
from choreograph.plan._toml import TomlLocator, describe_table, describe_value, format_field
from choreograph.plan.composition import load_composition

DATA = Path(__file__).parent / "data"


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """1-based line of the ``nth`` line containing ``needle``."""
    hits = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    return hits[nth - 1]


DOC = textwrap.dedent(
    """\
    name = "p"   # comment [not.a.table]
    [defaults]
    builder = "exec:go"
    [builders."docker:go"]
    enabled = true
    [[testcases]]
    name = "a"
    instances = { min = 1, max = 2 }
    [[testcases]]
    name = "b"
    instances.min = 2
      [testcases.params]
      n = { type = "int", default = 3 }
      [testcases.params.m]
      type = "string"
    [[runs]]
    id = "one"
      [[runs.groups]]
      id = "x"
      [[runs.groups]]
      id = "y"
      [runs.groups.test_params]
      k = '''
    [fake.header]
    fake = 1
    '''
      after = "multi-line string"
    [[runs]]
    id = "two"
      deps = [
        { module = "m1", version = "1" },
        { module = "m2", version = "2" },
      ]
    """
)


@pytest.mark.parametrize(
    ("path", "needle", "nth"),
    [
        (("name",), 'name = "p"', 1),
        (("defaults", "builder"), 'builder = "exec:go"', 1),
        (("builders", "docker:go", "enabled"), "enabled = true", 1),
        (("testcases", 0), "[[testcases]]", 1),
        (("testcases", 1), "[[testcases]]", 2),
        (("testcases", 1, "name"), 'name = "b"', 1),
        (("testcases", 0, "instances", "max"), "max = 2", 1),
        (("testcases", 1, "instances", "min"), "instances.min = 2", 1),
        (("testcases", 1, "params", "n", "default"), "default = 3", 1),
        (("testcases", 1, "params", "m", "type"), 'type = "string"', 1),
        (("runs", 0, "groups", 1, "id"), 'id = "y"', 1),
        (("runs", 0, "groups", 1, "test_params", "k"), "k = '''", 1),
        (("runs", 0, "groups", 1, "test_params", "after"), "after =", 1),
        (("runs", 1, "id"), 'id = "two"', 1),
        (("runs", 1, "deps", 1, "version"), 'module = "m2"', 1),
        (("runs", 1, "deps", 0), 'module = "m1"', 1),
    ],
)
def test_locator_finds_the_line_of_a_key(
    path: tuple[str | int, ...], needle: str, nth: int
) -> None:
    assert TomlLocator(DOC).line(path) == line_of(DOC, needle, nth)


def test_locator_falls_back_to_the_enclosing_table_then_none() -> None:
    locator = TomlLocator(DOC)
    assert locator.line(("testcases", 1, "params", "zzz")) == line_of(DOC, "[testcases.params]")
    assert locator.line(("runs", 0, "groups", 0, "nope")) == line_of(DOC, "[[runs.groups]]")
    assert locator.line(("nowhere",)) is None


def test_locator_is_not_fooled_by_strings_that_look_like_tables() -> None:
    assert TomlLocator(DOC).line(("fake", "header")) is None


def test_locator_never_raises_on_text_it_cannot_follow() -> None:
    assert TomlLocator("a = [1, 2\n").line(("a",)) == 1
    assert TomlLocator("[[").line(("a",)) is None


def test_locator_on_a_realistic_composition() -> None:
    path = DATA / "network" / "_compositions" / "ping-pong.toml"
    text = path.read_text()
    locator = TomlLocator(text)
    assert locator.line(("groups", 1, "instances", "percentage")) == line_of(text, "percentage")
    assert locator.line(("groups", 1, "build", "dependencies", 0, "version")) == line_of(
        text, 'version = "master"'
    )
    assert locator.line(("global", "build", "dependencies", 0)) == line_of(text, "sdk-go")
    assert locator.line(("groups", 1, "run", "test_params", "topics")) == line_of(text, "topics =")


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[global]\ncase = "x"\ncount = = 3\n')
    with pytest.raises(PlanError) as err:
        load_composition(path)
    (issue,) = err.value.issues
    assert issue.source == str(path)
    assert issue.line == 3
    assert "not valid TOML" in issue.problem
    assert f"{path}:3" in str(err.value)


def test_templated_composition_gets_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "templated.toml"
    path.write_text('[global]\ncase = "x"\n{{ range .groups }}\n[[groups]]\n{{ end }}\n')
    with pytest.raises(PlanError, match=r"templated compositions .* not supported yet"):
        load_composition(path)


def test_missing_file_is_a_plan_error(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="cannot read the file") as err:
        load_composition(tmp_path / "nope.toml")
    assert err.value.issues[0].source == str(tmp_path / "nope.toml")


def test_field_and_table_wording() -> None:
    assert format_field(("groups", 1, "instances", "count")) == "groups#2.instances.count"
    assert format_field(("builders", "docker:go", "enabled")) == 'builders."docker:go".enabled'
    assert format_field(()) == "(top level)"
    assert describe_table(("groups", 1)) == "[[groups]] #2"
    assert describe_table(("global", "run")) == "[global.run]"
    assert describe_table(()) == "the top level"
    assert describe_value("ten") == "'ten' (string)"
    assert describe_value(True) == "true (boolean)"
    assert describe_value(3) == "3 (integer)"
    assert describe_value({"a": 1}) == "a table"
