"""Build keys of the docker:* builders, with Docker stubbed out: stable for the same
inputs, new for a change of sources, settings, dependency set or base image id."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from choreograph.builders import docker_generic, docker_go, docker_node, docker_python
from choreograph.builders.base import BuildContext
from choreograph.containers.build import Image, builder_stage_image, image_tag
from choreograph.errors import BuildError
from choreograph.plan.spec import Artifact, BuildRequest, Dependency

BASE_IDS = {"id": "sha256:1"}


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every key a builder asks an image for; Docker never called."""
    seen: list[str] = []

    async def ids(names: list[str], what: str) -> dict[str, str]:
        return {name: BASE_IDS["id"] for name in names}

    async def cached(job: Any, stage: Any) -> Image:
        seen.append(job.key)
        return Image(image_tag(job.plan, job.key), {}, True)

    for module in (docker_generic, docker_go, docker_node, docker_python):
        monkeypatch.setattr(module, "image_ids", ids)
        monkeypatch.setattr(module, "cached_or_built", cached)
    return seen


def build(builder: Any, plan: Path, config: dict[str, Any], **more: Any) -> Artifact:
    request = BuildRequest("Key Plan", plan, builder.id, ("g",), config, **more)
    result: Artifact = asyncio.run(builder.build(request, BuildContext(plan.parent, print)))
    return result


@pytest.fixture
def python_plan(tmp_path: Path) -> Path:
    plan = tmp_path / "plan"
    plan.mkdir()
    (plan / "main.py").write_text("print('hi')\n")
    (plan / "requirements.txt").write_text("six\n")
    return plan


def test_python_key_follows_the_dependency_set(keys: list[str], python_plan: Path) -> None:
    builder = docker_python.DockerPythonBuilder()
    one = build(builder, python_plan, {}, dependencies=(Dependency("six", "1.16.0"),))
    build(builder, python_plan, {}, dependencies=(Dependency("six", "1.16.0"),))
    build(builder, python_plan, {}, dependencies=(Dependency("six", "1.15.0"),))
    assert keys[0] == keys[1] != keys[2]
    assert one.image == f"choreograph/key-plan:{keys[0]}" and one.argv == () and one.cwd == ""


def test_a_re_prepared_base_image_changes_the_key(
    keys: list[str], python_plan: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    builder = docker_python.DockerPythonBuilder()
    build(builder, python_plan, {})
    monkeypatch.setitem(BASE_IDS, "id", "sha256:2")
    build(builder, python_plan, {})
    assert keys[0] != keys[1]


def test_sources_and_settings_change_the_key(keys: list[str], tmp_path: Path) -> None:
    plan = tmp_path / "plan"
    plan.mkdir()
    (plan / "Dockerfile").write_text("FROM busybox:1.36-glibc\n")
    builder = docker_generic.DockerGenericBuilder()
    build(builder, plan, {})
    build(builder, plan, {"build_args": {"A": 1}})
    (plan / "Dockerfile").write_text('FROM busybox:1.36-glibc\nCMD ["true"]\n')
    build(builder, plan, {})
    assert len(set(keys)) == 3


def test_go_key_follows_tags_hooks_and_dependencies(keys: list[str], tmp_path: Path) -> None:
    plan = tmp_path / "plan"
    plan.mkdir()
    (plan / "go.mod").write_text("module m\n\ngo 1.21\n")
    (plan / "main.go").write_text("package main\n\nfunc main() {}\n")
    builder = docker_go.DockerGoBuilder()
    direct = {"go_proxy_mode": "direct"}
    build(builder, plan, direct)
    build(builder, plan, direct)
    build(builder, plan, direct, selectors=("v2",))
    build(builder, plan, {**direct, "dockerfile_extensions": {"pre_build": "RUN true"}})
    build(builder, plan, {**direct, "skip_runtime_image": True})
    assert keys[0] == keys[1] and len(set(keys)) == 4


def test_generic_needs_the_plans_dockerfile(keys: list[str], tmp_path: Path) -> None:
    (tmp_path / "plan").mkdir()
    with pytest.raises(BuildError, match=r"no Dockerfile at .*plan/sub/Dockerfile"):
        build(docker_generic.DockerGenericBuilder(), tmp_path / "plan", {"path": "sub"})


def test_node_needs_a_start_script(keys: list[str], tmp_path: Path) -> None:
    (tmp_path / "plan").mkdir()
    (tmp_path / "plan" / "package.json").write_text('{"main": "index.js"}')
    with pytest.raises(BuildError, match=r"no scripts\.start"):
        build(docker_node.DockerNodeBuilder(), tmp_path / "plan", {})


def test_from_images_fills_in_arguments() -> None:
    dockerfile = """ARG build_image=golang:1.26-bookworm
ARG run_image
FROM ${build_image} AS builder
FROM builder AS again
FROM $run_image
FROM scratch
"""
    assert docker_generic.from_images(dockerfile, {"run_image": "busybox:1"}) == [
        "golang:1.26-bookworm",
        "busybox:1",
    ]
    assert docker_generic.from_images(dockerfile, {}) == ["golang:1.26-bookworm"]


def test_builder_stage_image_is_read_from_the_step_output() -> None:
    lines = [
        "Step 20/30 : RUN cd ${PLAN_DIR} && go list -m all > /testground_dep_list",
        " ---> Running in eb347517d05b",
        "Removing intermediate container eb347517d05b",
        " ---> b55ef9cbbd2b",
        "Step 21/30 : FROM ${RUNTIME_IMAGE} AS runtime",
        " ---> 111111111111",
    ]
    assert builder_stage_image(lines) == "b55ef9cbbd2b"
    assert builder_stage_image(lines[:4]) == ""


def test_image_tags_are_valid_repository_names() -> None:
    assert image_tag("My_Plan/v2", "0123456789abcdef") == "choreograph/my_plan-v2:0123456789abcdef"
