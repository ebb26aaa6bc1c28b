"""Builds through the CLI: the mixed-versions example, build commands, prebuilt artifacts,
errors and purge. One home for the module, so later tests reuse earlier builds (as a
user's cache does); tests that look at the cache as a whole come last."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from .conftest import EXAMPLES, Choreo

MIXED = EXAMPLES / "mixed-versions"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Choreo:
    return Choreo(tmp_path_factory.mktemp("builds-home") / "home")


def _ids(text: str) -> list[str]:
    return re.findall(r"^build ([0-9a-f]{16})", text, re.MULTILINE)


def test_two_released_versions_in_one_run(home: Choreo) -> None:
    proc = home("run", "composition", "-f", str(MIXED / "versions.toml"), "--messages")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "packaging 21.3: LegacyVersion; packaging 24.2: InvalidVersion" in proc.stdout
    record = home.last_run()
    assert record["status"] == "success"
    builds = record["builds"]
    assert "packaging==21.3" in builds["old"]["provenance"]["freeze"]
    assert any(p.startswith("pyparsing==") for p in builds["old"]["provenance"]["freeze"])
    assert "packaging==24.2" in builds["new"]["provenance"]["freeze"]
    assert builds["old"]["build_id"] != builds["new"]["build_id"]
    findings = json.loads(next(home.runs()[-1].glob("old/0/findings.json")).read_text())
    assert sorted(f["version"] for f in findings) == ["21.3", "21.3", "24.2", "24.2"]


def test_an_unchanged_plan_is_not_built_again(home: Choreo) -> None:
    proc = home("run", "composition", "-f", str(MIXED / "versions.toml"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("cached") == 2 and "installing" not in proc.stdout
    builds = home.last_run()["builds"]
    assert builds["old"]["from_cache"] and builds["new"]["from_cache"]


def test_a_working_tree_next_to_a_release(home: Choreo) -> None:
    proc = home("run", "composition", "-f", str(MIXED / "local.toml"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    builds = home.last_run()["builds"]
    assert builds["checkout"]["provenance"]["versions"]["packaging"] == "99.0.dev0"
    assert builds["checkout"]["provenance"]["local"]["packaging"]["path"] == str(
        MIXED / "packaging-checkout"
    )
    assert builds["release"]["provenance"]["versions"]["packaging"] == "24.2"
    assert "[checkout]" in proc.stdout  # build progress names its group


def test_build_commands_print_id_dependencies_and_cache(home: Choreo) -> None:
    proc = home("build", "composition", "-f", str(MIXED / "versions.toml"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(_ids(proc.stdout)) == 2 and proc.stdout.count("cached") == 2
    assert "dependencies: packaging==21.3" in proc.stdout
    assert "resolved:     packaging==21.3, pyparsing==" in proc.stdout

    proc = home("build", "single", "--plan", str(MIXED), "--dep", "packaging==23.2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "dependencies: packaging==23.2" in proc.stdout and "built in" in proc.stdout

    runs_before = len(home.runs())
    proc = home("run", "composition", "-f", str(MIXED / "local.toml"), "--build-only")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(_ids(proc.stdout)) == 2 and len(home.runs()) == runs_before

    proc = home("builds", "list")
    assert proc.returncode == 0 and "packaging==23.2" in proc.stdout
    assert "mixed-versions" in proc.stdout


def test_a_group_can_name_a_prebuilt_artifact(home: Choreo, tmp_path: Path) -> None:
    proc = home("build", "single", "--plan", str(MIXED), "--dep", "packaging==21.3")
    (old_build,) = _ids(proc.stdout)
    text = (MIXED / "versions.toml").read_text()
    text = text.replace('plan = "."', f'plan = "{MIXED}"')
    text = text.replace(
        '  [groups.build]\n  dependencies = [{ module = "packaging", version = "21.3" }]',
        f'  [groups.run]\n  artifact = "{old_build[:10]}"',
    )
    composition = tmp_path / "prebuilt.toml"
    composition.write_text(text)
    proc = home("run", "composition", "-f", str(composition))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"prebuilt artifact {old_build}" in proc.stdout
    builds = home.last_run()["builds"]
    assert builds["old"]["build_id"] == old_build and builds["old"]["provenance"]["prebuilt"]


def test_a_failed_build_names_group_and_dependency_and_starts_nothing(
    home: Choreo, tmp_path: Path
) -> None:
    text = (MIXED / "versions.toml").read_text().replace('plan = "."', f'plan = "{MIXED}"')
    composition = tmp_path / "broken.toml"
    composition.write_text(text.replace('version = "24.2"', 'version = "99.99"'))
    proc = home("run", "composition", "-f", str(composition))
    assert proc.returncode == 3, proc.stdout + proc.stderr
    error = " ".join(proc.stderr.split())
    assert "groups new" in error and "packaging==99.99 (override)" in error
    assert "there is no version of packaging==99.99" in error
    run_dir = home.runs()[-1]
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "build-failed" and "packaging==99.99" in record["error"]
    assert not (run_dir / "old").exists() and not (run_dir / "new").exists()

    composition.write_text(text.replace('version = "24.2"', 'path = "no-such-checkout"'))
    proc = home("run", "composition", "-f", str(composition))
    assert proc.returncode == 3
    error = " ".join(proc.stderr.split())
    assert f"packaging @ {tmp_path / 'no-such-checkout'}" in error and "groups new" in error


def test_purge(home: Choreo) -> None:
    proc = home("builds", "purge", "--older-than", "7d")
    assert proc.returncode == 0 and "removed 0 builds and 0 environments" in proc.stdout
    assert home("builds", "purge", "--older-than", "soon").returncode == 2
    proc = home("builds", "purge")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"removed [1-9]\d* builds and [1-9]\d* environments", proc.stdout)
    assert "no builds" in home("builds", "list").stdout
    envs = home.home / "builds" / "_envs" / "python"
    assert not any(p.is_dir() for p in envs.iterdir())
