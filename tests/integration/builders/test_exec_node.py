"""exec:node with the real npm: install once per content, reuse, fail with npm's words.

The plans here have no dependencies, so ``npm ci``/``npm install`` need no registry; a
root ``postinstall`` script stands for the install's work (it counts its runs outside
the build, or fails, or hangs), since npm runs it as part of both commands.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest

from choreograph.builders.exec_node import ExecNodeBuilder
from choreograph.errors import BuildError

from .conftest import Builds, gone, wait_for_file

pytestmark = pytest.mark.usefixtures("node")

COUNT_INSTALLS = "node -e \"require('fs').appendFileSync(process.env.INSTALL_COUNTER, 'x')\""


def write_plan(folder: Path, *, postinstall: str = COUNT_INSTALLS, lockfile: bool = True) -> Path:
    folder.mkdir(exist_ok=True)
    package = {
        "name": "tiny",
        "version": "1.0.0",
        "private": True,
        "main": "index.js",
        "scripts": {"postinstall": postinstall},
    }
    (folder / "package.json").write_text(json.dumps(package, indent=2))
    if lockfile:
        root = {"name": "tiny", "version": "1.0.0", "hasInstallScript": True}
        lock = {"name": "tiny", "version": "1.0.0", "lockfileVersion": 3, "requires": True}
        (folder / "package-lock.json").write_text(json.dumps({**lock, "packages": {"": root}}))
    (folder / "index.js").write_text("console.log('hello from ' + process.argv[1])\n")
    return folder


@pytest.fixture
def builds(tmp_path: Path) -> Builds:
    return Builds(ExecNodeBuilder(), tmp_path / "builds")


@pytest.fixture
def plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("INSTALL_COUNTER", str(tmp_path / "installs"))
    return write_plan(tmp_path / "plan")


def installs(plan: Path) -> int:
    counter = plan.parent / "installs"
    return len(counter.read_text()) if counter.exists() else 0


async def test_an_unchanged_plan_is_installed_once(builds: Builds, plan: Path) -> None:
    first = await builds(plan, {})
    second = await builds(plan, {})
    assert not first.from_cache and second.from_cache
    assert second.build_id == first.build_id and second.argv == first.argv
    assert installs(plan) == 1
    assert builds.log.count("npm ci for plan tiny") == 1
    entry = builds.root / "exec-node" / first.build_id / "src" / "index.js"
    assert first.argv == ("node", str(entry))
    assert first.provenance["lockfile"] is True
    out = subprocess.run(first.argv, capture_output=True, text=True, check=True)
    assert out.stdout == f"hello from {entry}\n"


@pytest.mark.parametrize("change", ["source", "lockfile", "entry"])
async def test_a_change_to_sources_lockfile_or_entry_rebuilds(
    builds: Builds, plan: Path, change: str
) -> None:
    first = await builds(plan, {})
    config: dict[str, object] = {}
    if change == "source":
        (plan / "index.js").write_text("console.log('changed')\n")
    elif change == "lockfile":
        lock = json.loads((plan / "package-lock.json").read_text())
        (plan / "package-lock.json").write_text(json.dumps(lock, indent=1))
    else:
        (plan / "other.js").write_text("console.log('other')\n")
        config = {"entry": "other.js"}
    second = await builds(plan, config)
    assert second.build_id != first.build_id and not second.from_cache
    assert installs(plan) == 2
    assert builds.entries() == sorted([first.build_id, second.build_id])


async def test_without_a_lockfile_npm_install_runs_and_the_plan_is_untouched(
    builds: Builds, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INSTALL_COUNTER", str(tmp_path / "installs"))
    plan = write_plan(tmp_path / "plan", lockfile=False)
    artifact = await builds(plan, {})
    assert "npm install for plan tiny" in builds.log
    assert artifact.provenance["lockfile"] is False
    assert sorted(p.name for p in plan.iterdir()) == ["index.js", "package.json"]


async def test_an_install_failure_shows_npms_error_and_the_plan_and_keeps_nothing(
    builds: Builds, tmp_path: Path
) -> None:
    failing = "node -e \"console.error('libfoo.so.3: cannot open'); process.exit(7)\""
    plan = write_plan(tmp_path / "plan", postinstall=failing)
    with pytest.raises(BuildError) as caught:
        await builds(plan, {}, plan="tiny")
    message = str(caught.value)
    assert message.startswith("plan 'tiny' (groups single): `npm ci")
    assert "failed with exit status 7" in message
    assert "libfoo.so.3: cannot open" in message  # the script's own words
    assert "npm error command failed" in message  # and npm's
    assert builds.entries() == []  # nothing half-built for a later run to reuse


async def test_an_interrupted_install_kills_npm_and_its_scripts(
    builds: Builds, tmp_path: Path
) -> None:
    pid_file = tmp_path / "script.pid"
    write_pid = f"require('fs').writeFileSync('{pid_file}', String(process.pid))"
    hang = f'node -e "{write_pid}; setTimeout(() => {{}}, 60000)"'
    plan = write_plan(tmp_path / "plan", postinstall=hang)
    building = asyncio.create_task(builds(plan, {}))
    script = int(await wait_for_file(pid_file))
    building.cancel()
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(5):
            await building
    assert await gone(script)
    assert builds.entries() == []


@pytest.mark.parametrize(
    ("package", "expected"),
    [
        (None, "exec:node needs a package.json in"),
        ("{not json", "package.json is not valid JSON"),
        (
            '{"name": "tiny", "main": "missing.js"}',
            "the plan's main file 'missing.js' does not exist",
        ),
    ],
)
async def test_a_plan_exec_node_cannot_run_is_refused_by_name(
    builds: Builds, tmp_path: Path, package: str | None, expected: str
) -> None:
    plan = tmp_path / "plan"
    plan.mkdir()
    (plan / "index.js").write_text("")
    if package is not None:
        (plan / "package.json").write_text(package)
    with pytest.raises(BuildError) as caught:
        await builds(plan, {}, plan="tiny")
    assert str(caught.value).startswith("plan 'tiny' (groups single): ")
    assert expected in str(caught.value)
