"""The in-cluster sync service's image (``cluster:k8s``): built here from this
installation, reused while nothing changed, older tags removed, and it serves."""

from __future__ import annotations

import subprocess

import pytest
from tests.docker_support import prepared_images, remove_tags, requires_docker, run_async

from choreograph.containers import client
from choreograph.containers.images import PYTHON_IMAGE
from choreograph.containers.sync_image import REPOSITORY, sync_service_image

pytestmark = [requires_docker, pytest.mark.timeout(600)]


def test_built_once_older_tags_removed_and_it_serves() -> None:
    prepared_images()
    stale = f"{REPOSITORY}:0lder"
    subprocess.run(["docker", "tag", PYTHON_IMAGE, stale], check=True, timeout=60)
    try:
        tag = run_async(sync_service_image())
        remove_tags(tag)  # a fresh build, which must clear the stale tag
        lines: list[str] = []
        assert run_async(sync_service_image(lines.append)) == tag
        assert any("building" in line for line in lines)
        assert client.image_id(stale) is None
        again: list[str] = []
        assert run_async(sync_service_image(again.append)) == tag and again == []  # reused
        done = subprocess.run(
            ["docker", "run", "--rm", "--network", "none", tag, "--help"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0 and "--tokenless-from" in done.stdout, done.stderr
        refused = subprocess.run(
            ["docker", "run", "--rm", "--network", "none", tag, "--host", "0.0.0.0"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert refused.returncode == 2 and "without a token" in refused.stderr
    finally:
        remove_tags(stale)
