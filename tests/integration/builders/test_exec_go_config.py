"""exec:go honours Testground's docker:go module settings (``path``, ``modfile``,
``enable_cgo``) rather than ignoring them: a plan written for docker:go builds as it is."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from choreograph.builders.exec_go import ExecGoBuilder
from choreograph.errors import BuildError

from .conftest import Builds

pytestmark = pytest.mark.skipif(shutil.which("go") is None, reason="needs go")

MAIN_GO = """\
package main

import "fmt"

func main() { fmt.Println("built as", moduleName) }
"""


@pytest.fixture
def builds(tmp_path: Path) -> Builds:
    return Builds(ExecGoBuilder(), tmp_path / "builds")


@pytest.fixture
def plan(tmp_path: Path) -> Path:
    """A plan whose Go module lives in ``go/`` with two modfiles and no ``go.mod``:
    it builds only when both ``path`` and ``modfile`` are honoured."""
    module = tmp_path / "plan" / "go"
    module.mkdir(parents=True)
    (module / "main.go").write_text(MAIN_GO)
    for name in ("v1", "v2"):
        (module / f"go.{name}.mod").write_text(f"module example.com/{name}\n\ngo 1.21\n")
        (module / f"name_{name}.go").write_text(
            f'//go:build {name}\n\npackage main\n\nconst moduleName = "{name}"\n'
        )
    return tmp_path / "plan"


def run(argv: tuple[str, ...]) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()


async def test_path_and_modfile_pick_the_module_to_build(builds: Builds, plan: Path) -> None:
    v1 = await builds(plan, {"path": "go", "modfile": "go.v1.mod"}, selectors=("v1",))
    v2 = await builds(plan, {"path": "go", "modfile": "go.v2.mod"}, selectors=("v2",))
    assert run(v1.argv) == "built as v1"
    assert run(v2.argv) == "built as v2"
    assert v1.build_id != v2.build_id
    assert ("example.com/v2" in v2.provenance["modules"]) and not (plan / "go" / "go.mod").exists()


async def test_enable_cgo_is_a_different_build(builds: Builds, plan: Path) -> None:
    config = {"path": "go", "modfile": "go.v1.mod"}
    plain = await builds(plan, config, selectors=("v1",))
    cgo = await builds(plan, {**config, "enable_cgo": True}, selectors=("v1",))
    assert plain.build_id != cgo.build_id and run(cgo.argv) == "built as v1"


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({"path": "../elsewhere"}, "must be a folder inside the plan"),
        ({"path": "go", "modfile": "go.v3.mod"}, "modfile 'go.v3.mod' does not exist"),
        (
            {"fresh_gomod": True, "module_path": "x", "modfile": "go.v1.mod"},
            "fresh_gomod cannot be combined with path or modfile",
        ),
    ],
)
async def test_settings_that_cannot_work_fail_the_build(
    builds: Builds, plan: Path, config: dict[str, object], problem: str
) -> None:
    with pytest.raises(BuildError, match=problem):
        await builds(plan, config)
