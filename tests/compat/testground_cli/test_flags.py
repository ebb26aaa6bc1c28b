"""How Testground's flags become a composition, and the shape of the lines scripts parse."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from choreograph.cli.testground import composition, go_style, lines, toml_write
from choreograph.cli.testground.config import parse_env
from choreograph.cli.testground.runs import new_run_id
from choreograph.errors import InputError

from .conftest import write_plan


def test_run_single_flags_make_testground_s_synthetic_composition() -> None:
    asked = composition.Single(
        plan="testground/placebo",
        case="ok",
        instances=2,
        builder="docker:go",
        runner="local:docker",
        build_cfg=("go_proxy_mode=direct", "enable_go_build_cache=true"),
        run_cfg=("keep_containers=1", "log_level=debug", "ratio=0.5"),
        test_params=("size=10", "url=http://x/?a=b"),
        use_build="testplan:placebo",
        deps=("github.com/a/b=github.com/c/b@v1.2.3", "github.com/x/y=@v0.1.0"),
        disable_metrics=True,
    )
    data = composition.single_composition(asked)
    # What it writes reads back the same (and as a composition Choreograph accepts).
    assert tomllib.loads(toml_write.dumps(data)) == data
    glob, (group,) = data["global"], data["groups"]
    assert glob["plan"] == "testground/placebo" and glob["case"] == "ok"
    assert (glob["builder"], glob["runner"], glob["total_instances"]) == (
        "docker:go",
        "local:docker",
        2,
    )
    assert glob["build_config"] == {"go_proxy_mode": "direct", "enable_go_build_cache": True}
    assert glob["run_config"] == {"keep_containers": 1, "log_level": "debug", "ratio": 0.5}
    assert glob["disable_metrics"] is True
    assert group["id"] == "single" and group["instances"] == {"count": 2}
    # Test params stay text; a value may hold '='.
    assert group["run"] == {
        "test_params": {"size": "10", "url": "http://x/?a=b"},
        "artifact": "testplan:placebo",
    }
    assert group["build"]["dependencies"] == [
        {"module": "github.com/a/b", "target": "github.com/c/b", "version": "v1.2.3"},
        {"module": "github.com/x/y", "version": "v0.1.0"},
    ]


@pytest.mark.parametrize(
    ("text", "value"),
    [("3", 3), ("-2", -2), ("1.5", 1.5), ("true", True), ("F", False), ('"7"', "7"), ("x", "x")],
)
def test_config_values_are_typed_as_testground_types_them(text: str, value: object) -> None:
    assert composition.typed({"k": text}) == {"k": value}


@pytest.mark.parametrize("flag", ["--test-param", "--run-cfg", "--build-cfg"])
def test_a_value_without_equals_is_refused(flag: str) -> None:
    with pytest.raises(InputError, match=f"{flag} 'nope': expected KEY=VALUE"):
        composition.key_values(["nope"], flag)


def test_go_style_single_dash_long_flags_get_their_second_dash() -> None:
    argv = ["run", "single", "-plan=p", "-tp", "k=v", "-ub", "img", "-i", "2", "-vv", "-t", "ok"]
    assert go_style(argv) == [
        "run", "single", "--plan=p", "--tp", "k=v", "--ub", "img", "-i", "2", "--vv", "-t", "ok",
    ]  # fmt: skip


def test_env_runner_settings_are_the_lowest_layer(tmp_path: Path) -> None:
    plans_dir = tmp_path / "plans"
    plan = write_plan(plans_dir / "p", "p")
    manifest = plan / "manifest.toml"
    manifest.write_text(
        manifest.read_text().replace(
            '[runners."local:exec"]', '[runners."local:exec"]\nfrom_manifest = "m"\nshared = "m"'
        )
    )
    env = parse_env(
        {"runners": {"local:exec": {"disabled": False, "shared": "env", "only_env": 1}}},
        tmp_path,
    )
    data = {"global": {"plan": "p", "case": "ok", "run_config": {"from_comp": 2}}}
    merged = composition.with_env_runner_config(data, env, plans_dir)
    assert merged["global"]["run_config"] == {
        "shared": "m",
        "only_env": 1,
        "from_manifest": "m",
        "from_comp": 2,
    }
    assert "run_config" in data["global"] and data["global"]["run_config"] == {"from_comp": 2}


def test_a_composition_s_relative_paths_survive_its_copy(tmp_path: Path) -> None:
    write_plan(tmp_path / "comp" / "myplan", "myplan")
    (tmp_path / "comp" / "sdk").mkdir()
    file = tmp_path / "comp" / "c.toml"
    file.write_text(
        '[global]\nplan = "myplan"\ncase = "ok"\n[[groups]]\nid = "a"\n'
        '[groups.build]\ndependencies = [{module = "sdk", path = "sdk"}]\n'
    )
    data = composition.read(file)
    assert data["global"]["plan"] == str((tmp_path / "comp" / "myplan").resolve())
    assert data["groups"][0]["build"]["dependencies"][0]["path"] == str(tmp_path / "comp" / "sdk")


def test_write_artifacts_sets_each_built_group_s_artifact(tmp_path: Path) -> None:
    file = tmp_path / "c.toml"
    file.write_text(
        '[global]\nplan = "p"\ncase = "ok"\n[[groups]]\nid = "a"\n[[groups]]\nid = "b"\n'
    )
    composition.write_artifacts(file, {"b": "build-123"})
    groups = tomllib.loads(file.read_text())["groups"]
    assert groups == [{"id": "a"}, {"id": "b", "run": {"artifact": "build-123"}}]


def test_lines_have_header_sh_s_field_positions() -> None:
    queued = lines.line("INFO", "run is queued with ID: abc")
    assert queued.split()[9] == "abc"  # awk '{ print $10 }'
    assert lines.line("INFO", "finished run with ID: abc").split()[8] == "abc"  # $9
    built = lines.line("INFO", "generated build artifact", {"group": "single", "artifact": "img"})
    assert built.split('"')[7] == "img"  # awk -F'"' '{ print $8 }'


def test_run_ids_are_twenty_characters_as_testground_s() -> None:
    ids = {new_run_id() for _ in range(50)}
    assert {len(i) for i in ids} == {20} and len(ids) > 40
