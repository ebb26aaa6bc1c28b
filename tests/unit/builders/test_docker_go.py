"""docker:go without Docker: the generated Dockerfile, the config checks, the context
layout rules (relative ``replace`` targets), and the local module proxy's file layout."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from choreograph.builders.base import BuildContext
from choreograph.builders.docker_go import (
    HOOKS,
    DockerGoBuilder,
    GoConfig,
    GoDockerfile,
    container_dir,
    copy_module,
    go_dockerfile,
    local_replace_targets,
    outside_folders,
    read_config,
    relative_from_module,
)
from choreograph.containers.images import DEBIAN_IMAGE, RUNTIME_IMAGE
from choreograph.errors import BuildError
from choreograph.plan.spec import BuildRequest

WHAT = "docker:go: plan 'p' (groups g)"


def _index(text: str, needle: str) -> int:
    lines = text.splitlines()
    found = [i for i, line in enumerate(lines) if needle in line]
    assert found, f"{needle!r} not in the Dockerfile"
    return found[0]


def test_hooks_sit_where_testground_puts_them() -> None:
    hooks = {hook: f"RUN echo {hook}" for hook in HOOKS}
    text = go_dockerfile(GoDockerfile(hooks, ("plan",)))
    at = {hook: _index(text, f"echo {hook}") for hook in HOOKS}
    download = _index(text, "go mod download")
    source_copy = _index(text, "COPY plan /plan")
    build = _index(text, "go build")
    runtime = _index(text, "AS runtime")
    binary_copy = _index(text, "COPY --from=builder ${PLAN_DIR}/testplan.bin /testplan")
    assert at["pre_mod_download"] < download < at["post_mod_download"]
    assert at["post_mod_download"] < at["pre_source_copy"] < source_copy
    assert source_copy < at["post_source_copy"] < at["pre_build"] < build < at["post_build"]
    assert at["post_build"] < runtime < at["pre_runtime_copy"] < binary_copy
    assert binary_copy < at["post_runtime_copy"]
    assert text.rstrip().endswith('ENTRYPOINT ["/testplan"]')


def test_skip_runtime_image_keeps_the_builder_and_drops_the_runtime_hooks() -> None:
    hooks = {"pre_runtime_copy": "RUN echo pre", "pre_build": "RUN echo build"}
    text = go_dockerfile(GoDockerfile(hooks, ("plan",), skip_runtime_image=True))
    assert "FROM builder AS runtime" in text and "FROM ${RUNTIME_IMAGE}" not in text
    assert "RUN mv ${PLAN_DIR}/testplan.bin /testplan" in text
    assert "echo pre" not in text and "echo build" in text


def test_cgo_and_local_proxy_shape_the_build() -> None:
    plain = go_dockerfile(GoDockerfile({}, ("plan",)))
    cgo = go_dockerfile(GoDockerfile({}, ("plan",), cgo=True, local_proxy=True))
    assert "CGO_ENABLED=0 GOOS=linux go build" in plain
    assert "CGO_ENABLED=1 GOOS=linux go build" in cgo
    assert "COPY .choreo-goproxy /choreo/goproxy" in cgo and "GOSUMDB=off" in cgo
    assert ".choreo-goproxy" not in plain
    assert _index(cgo, "COPY .choreo-goproxy") < _index(cgo, "go mod download")


def test_cgo_defaults_to_a_glibc_runtime() -> None:
    assert read_config({}, WHAT).runtime_image == RUNTIME_IMAGE
    assert read_config({"enable_cgo": True}, WHAT).runtime_image == DEBIAN_IMAGE
    chosen = read_config({"enable_cgo": True, "runtime_image": "mine:1"}, WHAT)
    assert chosen.runtime_image == "mine:1"


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({"go_proxy_mode": "nearby"}, "expected one of local, direct, remote"),
        ({"go_proxy_mode": "remote"}, "needs go_proxy_url"),
        ({"go_proxy_url": "http://x"}, "only with go_proxy_mode = 'remote'"),
        ({"fresh_gomod": True}, "needs module_path"),
        ({"fresh_gomod": True, "module_path": "m", "path": "go"}, "cannot be combined"),
        ({"enable_go_build_cache": True, "build_base_image": "x:1"}, "default build_base_image"),
        ({"dockerfile_extensions": {"pre_bild": "RUN true"}}, "hooks: pre_mod_download"),
        ({"dockerfile_extensions": "RUN true"}, "must be a table"),
        ({"skip_runtime_image": "yes"}, "must be true or false"),
        ({"path": "../outside"}, "must be a folder inside the plan"),
        ({"exec_pkg": 3}, "exec_pkg must be a string"),
    ],
)
def test_settings_that_cannot_work_are_refused(config: dict[str, object], problem: str) -> None:
    with pytest.raises(BuildError, match=problem.replace("(", r"\(")):
        read_config(config, WHAT)


def test_every_testground_key_is_read() -> None:
    testground = {
        "module_path",
        "exec_pkg",
        "fresh_gomod",
        "path",
        "modfile",
        "go_proxy_mode",
        "go_proxy_url",
        "runtime_image",
        "build_base_image",
        "skip_runtime_image",
        "enable_go_build_cache",
        "enable_cgo",
        "dockerfile_extensions",
    }
    assert testground <= set(DockerGoBuilder.config_keys)


def test_replace_targets_and_where_they_land(tmp_path: Path) -> None:
    gomod = """module example.com/plan

require example.com/sdk v0.1.0

replace example.com/sdk => ../sdk // linked SDK
replace (
    example.com/a v1.0.0 => ./vendored/a
    example.com/b => example.com/c v1.2.0
)
"""
    assert local_replace_targets(gomod) == ["../sdk", "./vendored/a"]
    assert container_dir("", "../sdk") == "/sdk"
    assert container_dir("go", "../sdk") == "/plan/sdk"
    assert container_dir("go/inner", "../../../x") == "/x"
    assert relative_from_module("", "/choreo-deps/0") == "../choreo-deps/0"
    assert relative_from_module("go", "/plan/go/x") == "./x"

    plan = tmp_path / "plan"
    plan.mkdir()
    (plan / "go.mod").write_text(gomod)
    (tmp_path / "sdk").mkdir()
    found = outside_folders(plan, GoConfig(), WHAT)
    assert found == {"/sdk": (tmp_path / "sdk").resolve()}  # ./vendored/a is in the plan


def test_a_replace_target_may_not_take_a_reserved_place(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text("module m\n\nreplace x => ../choreo\n")
    with pytest.raises(BuildError, match="would land on /choreo"):
        outside_folders(tmp_path, GoConfig(), WHAT)


def test_local_proxy_gets_the_version_and_every_go_mod(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    versions = cache / "github.com" / "!azure" / "thing" / "@v"
    versions.mkdir(parents=True)
    for name in ("v1.0.0.mod", "v1.1.0.mod", "v1.1.0.info", "v1.1.0.zip", "v1.0.0.zip"):
        (versions / name).write_text(name)
    proxy = tmp_path / "proxy"
    copy_module(cache, proxy, "github.com/Azure/thing", "v1.1.0")
    copied = proxy / "github.com" / "!azure" / "thing" / "@v"
    names = sorted(p.name for p in copied.iterdir())
    assert names == ["list", "v1.0.0.mod", "v1.1.0.info", "v1.1.0.mod", "v1.1.0.zip"]
    assert (copied / "list").read_text() == "v1.0.0\nv1.1.0\n"


def test_a_bad_setting_fails_before_docker_is_asked(tmp_path: Path) -> None:
    request = BuildRequest("p", tmp_path, "docker:go", ("g",), {"go_proxy_mode": "x"})
    with pytest.raises(BuildError, match=r"docker:go: plan 'p' \(groups g\): go_proxy_mode"):
        asyncio.run(DockerGoBuilder().build(request, BuildContext(tmp_path, print)))
