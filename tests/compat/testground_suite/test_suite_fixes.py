"""What Testground's integration scripts needed, checked without Docker."""

from __future__ import annotations

from typing import Any

from choreograph.cli.testground.cmd_build import _runner_for_building
from choreograph.cli.testground.composition import _spread_global_build_config
from choreograph.plan.manifest import Manifest


def test_global_build_config_goes_to_the_groups_whose_builder_reads_it() -> None:
    data: dict[str, Any] = {
        "global": {"builder": "docker:go", "build_config": {"docker_build_image": "golang:x"}},
        "groups": [
            {"id": "go", "build_config": {"path": "go/"}},
            {"id": "generic", "builder": "docker:generic", "build_config": {"path": "g/"}},
        ],
    }
    _spread_global_build_config(data)
    assert "build_config" not in data["global"]
    assert data["groups"][0]["build_config"] == {"docker_build_image": "golang:x", "path": "go/"}
    assert data["groups"][1]["build_config"] == {"path": "g/"}


def test_one_builder_keeps_the_global_build_config() -> None:
    data: dict[str, Any] = {
        "global": {"builder": "docker:go", "build_config": {"nope": 1}},
        "groups": [{"id": "a"}],
    }
    _spread_global_build_config(data)
    assert data["global"]["build_config"] == {"nope": 1}


def test_build_single_needs_no_runner_default() -> None:
    splitbrain = Manifest.model_validate(
        {
            "name": "splitbrain",
            "testcases": [{"name": "drop", "instances": {"min": 1, "max": 2, "default": 1}}],
            "builders": {"docker:go": {"enabled": True}},
            "runners": {"cluster:k8s": {"enabled": True}, "local:docker": {"enabled": True}},
        }
    )
    assert _runner_for_building(splitbrain, "docker:go") == "local:docker"
    with_default = Manifest.model_validate(
        {
            "name": "p",
            "defaults": {"runner": "local:exec"},
            "testcases": [{"name": "c", "instances": {"min": 1, "max": 2, "default": 1}}],
        }
    )
    assert _runner_for_building(with_default, "") == ""
