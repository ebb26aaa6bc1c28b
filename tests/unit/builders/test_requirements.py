from pathlib import Path

import pytest

from choreograph.builders.requirements import canonical_name, dependency_set
from choreograph.errors import BuildError
from choreograph.plan.spec import Dependency

WHAT = "plan 'p', groups g"


def test_a_plan_that_declares_nothing_runs_on_the_host(tmp_path: Path) -> None:
    deps = dependency_set(tmp_path, (), WHAT)
    assert not deps.isolated and deps.lines() == []


def test_an_empty_requirements_file_still_asks_for_an_environment(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("# nothing yet\n")
    deps = dependency_set(tmp_path, (), WHAT)
    assert deps.isolated and deps.declared_in == "requirements.txt" and deps.lines() == []


def test_requirements_txt_lines_sorted_by_canonical_name(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text(
        "Zope.Interface>=5  # a comment\n\nattrs[tests]==23.1; python_version >= '3.8'\n"
    )
    deps = dependency_set(tmp_path, (), WHAT)
    assert deps.lines() == ["attrs[tests]==23.1; python_version >= '3.8'", "Zope.Interface>=5"]
    assert [r.name for r in deps.requirements] == ["attrs", "zope-interface"]
    assert deps.requirements[1].origin == "requirements.txt:1"


def test_installer_options_are_refused_with_the_line(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("packaging\n--index-url http://x\n")
    with pytest.raises(BuildError, match=r"requirements.txt:2: installer options \(--index-url\)"):
        dependency_set(tmp_path, (), WHAT)


def test_pyproject_dependencies(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\ndependencies = ["six>=1"]\n')
    assert dependency_set(tmp_path, (), WHAT).lines() == ["six>=1"]


def test_a_pyproject_without_dependencies_is_not_a_declaration(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.ruff]\nline-length = 100\n")
    assert not dependency_set(tmp_path, (), WHAT).isolated


def test_two_declarations_are_refused(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("six\n")
    (tmp_path / "pyproject.toml").write_text('[project]\ndependencies = ["six"]\n')
    with pytest.raises(BuildError, match=r"both requirements\.txt and pyproject\.toml"):
        dependency_set(tmp_path, (), WHAT)


def test_overrides_replace_by_canonical_name_or_add(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("Foo_Bar>=1\nsix\n")
    overrides = (
        Dependency("foo-bar", version="2.0"),
        Dependency("six", version=">=1.16,<2"),
        Dependency("extra", path="/src/extra"),
        Dependency("old", version="1.0", target="new-name"),
    )
    deps = dependency_set(tmp_path, overrides, WHAT)
    assert deps.lines() == [
        "extra @ /src/extra",
        "foo-bar==2.0",
        "new-name==1.0",
        "six>=1.16,<2",
    ]
    local = next(r for r in deps.requirements if r.name == "extra")
    assert local.local == Path("/src/extra") and local.origin == "override"


def test_the_same_set_reached_two_ways_is_one_set(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("packaging==24.2\n")
    pinned = dependency_set(tmp_path, (Dependency("packaging", "24.2"),), WHAT)
    assert pinned.lines() == dependency_set(tmp_path, (), WHAT).lines()


def test_naming_finds_the_culprit_in_an_installer_message(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("packaging==21.3\npyparsing==3.0.5\nsix\n")
    deps = dependency_set(tmp_path, (), WHAT)
    said = "Because there is no version of pyparsing==3.0.5 and packaging==21.3 depends on"
    assert [r.name for r in deps.naming(said)] == ["packaging", "pyparsing"]
    assert len(deps.naming("network unreachable")) == 3


def test_canonical_name() -> None:
    assert canonical_name("Zope.Interface") == canonical_name("zope_interface") == "zope-interface"
