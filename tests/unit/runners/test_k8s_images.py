"""How a run's images reach the nodes: the name containerd gives a Docker reference (what
an imported image is found and labelled by), and which way images are loaded."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from choreograph.cluster.config import K8sConfig
from choreograph.runners.k8s_images import load_mode, normalized

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("ref", "name"),
    [
        ("busybox:1.36-glibc", "docker.io/library/busybox:1.36-glibc"),
        ("busybox", "docker.io/library/busybox:latest"),
        ("foo/bar:1", "docker.io/foo/bar:1"),
        ("foo/bar", "docker.io/foo/bar:latest"),
        ("foo/bar/baz:2", "docker.io/foo/bar/baz:2"),
        ("localhost:5000/x:y", "localhost:5000/x:y"),
        ("localhost:5000/x", "localhost:5000/x:latest"),
        ("localhost/x:y", "localhost/x:y"),
        ("localhost/x", "localhost/x:latest"),
        ("registry:5000/team/plan:abc", "registry:5000/team/plan:abc"),
        ("reg.example.com/a/b", "reg.example.com/a/b:latest"),
        ("reg.example.com/a/b:v1", "reg.example.com/a/b:v1"),
        ("reg.example.com:443/a:v1", "reg.example.com:443/a:v1"),
        ("docker.io/library/busybox:1", "docker.io/library/busybox:1"),
        ("docker.io/foo/bar:1", "docker.io/foo/bar:1"),
    ],
)
def test_normalized(ref: str, name: str) -> None:
    assert normalized(ref) == name


@pytest.mark.parametrize(
    ("ref", "name"),
    [
        (f"busybox@{DIGEST}", f"docker.io/library/busybox@{DIGEST}"),
        (f"busybox:1.36@{DIGEST}", f"docker.io/library/busybox:1.36@{DIGEST}"),
        (f"foo/bar@{DIGEST}", f"docker.io/foo/bar@{DIGEST}"),
        (f"reg.example.com/a/b@{DIGEST}", f"reg.example.com/a/b@{DIGEST}"),
        (f"localhost:5000/x@{DIGEST}", f"localhost:5000/x@{DIGEST}"),
    ],
)
def test_normalized_keeps_digests_without_adding_latest(ref: str, name: str) -> None:
    assert normalized(ref) == name


def test_normalized_is_idempotent() -> None:
    for ref in ("busybox", "foo/bar:1", "localhost:5000/x", f"busybox@{DIGEST}"):
        assert normalized(normalized(ref)) == normalized(ref)


@pytest.mark.parametrize(
    "ref", ["docker.io/busybox:1", "index.docker.io/library/busybox:1", "index.docker.io/busybox:1"]
)
def test_normalized_official_images_named_in_full(ref: str) -> None:
    assert normalized(ref) == "docker.io/library/busybox:1"


@pytest.fixture
def no_ctr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)


@pytest.fixture
def with_ctr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/ctr" if name == "ctr" else None)


@pytest.fixture
def socket(tmp_path: Path) -> str:
    path = tmp_path / "containerd.sock"
    path.touch()
    return str(path)


@pytest.mark.parametrize("mode", ["containerd", "registry", "none"])
def test_load_mode_as_configured(mode: str, tmp_path: Path, with_ctr: None) -> None:
    config = K8sConfig(
        image_load=mode, containerd_address=str(tmp_path / "absent.sock"), registry=""
    )
    assert load_mode(config) == mode


@pytest.mark.parametrize("mode", ["containerd", "registry", "none"])
def test_load_mode_as_configured_whatever_is_here(mode: str, socket: str, with_ctr: None) -> None:
    config = K8sConfig(image_load=mode, containerd_address=socket, registry="reg:5000/p")
    assert load_mode(config) == mode


def test_load_mode_auto_local_containerd(socket: str, with_ctr: None) -> None:
    config = K8sConfig(containerd_address=socket)
    assert load_mode(config) == "containerd"
    # The local containerd wins over a named registry.
    assert load_mode(replace(config, registry="reg:5000/p")) == "containerd"


def test_load_mode_auto_containerd_socket_without_ctr(socket: str, no_ctr: None) -> None:
    config = K8sConfig(containerd_address=socket)
    assert load_mode(config) == "none"
    assert load_mode(replace(config, registry="reg:5000/p")) == "registry"


def test_load_mode_auto_without_local_containerd(tmp_path: Path, with_ctr: None) -> None:
    config = K8sConfig(containerd_address=str(tmp_path / "absent.sock"))
    assert load_mode(config) == "none"
    assert load_mode(replace(config, registry="reg:5000/p")) == "registry"


def test_load_mode_default_config_is_auto() -> None:
    assert K8sConfig().image_load == "auto"
