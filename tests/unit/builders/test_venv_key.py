import os
from pathlib import Path

from choreograph.builders.requirements import DependencySet, Requirement
from choreograph.builders.venv import environment_key, sdk_link, sdk_package, tree_digest


def _set(*specs: str) -> DependencySet:
    return DependencySet(tuple(Requirement(s[0], s, "test") for s in specs), "x")


def test_key_depends_on_requirements_installer_and_local_contents() -> None:
    key = environment_key(_set("a==1"), "uv", {})
    assert environment_key(_set("a==1"), "uv", {}) == key
    assert environment_key(_set("a==2"), "uv", {}) != key
    assert environment_key(_set("a==1"), "pip", {}) != key
    local = _set("a @ /x")
    one = environment_key(local, "uv", {"a": {"path": "/x", "digest": "1"}})
    assert environment_key(local, "uv", {"a": {"path": "/x", "digest": "1"}}) == one
    assert environment_key(local, "uv", {"a": {"path": "/x", "digest": "2"}}) != one


def test_tree_digest_ignores_build_outputs_but_not_sources(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("X = 1\n")
    digest = tree_digest(tmp_path)
    for junk in ("build/lib/pkg/__init__.py", "pkg.egg-info/PKG-INFO", "dist/pkg.whl"):
        (tmp_path / junk).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / junk).write_text("junk")
    assert tree_digest(tmp_path) == digest
    (tmp_path / "pkg" / "__init__.py").write_text("X = 2\n")
    assert tree_digest(tmp_path) != digest
    changed = tree_digest(tmp_path)
    (tmp_path / "pkg" / "build").mkdir()  # a subpackage named build is a source
    (tmp_path / "pkg" / "build" / "steps.py").write_text("pass\n")
    assert tree_digest(tmp_path) != changed


def test_sdk_link_holds_only_the_host_package(tmp_path: Path) -> None:
    folder = sdk_link(tmp_path)
    assert os.listdir(folder) == ["choreograph"]
    assert (folder / "choreograph").resolve() == sdk_package()
    assert sdk_link(tmp_path) == folder  # idempotent
