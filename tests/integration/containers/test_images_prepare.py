"""``choreo images prepare`` against the real Docker engine: the default images exist under
their real names (they are the shared cache every Docker test uses, so they are never
removed here), a second run builds nothing and takes about a second, each image runs its
tool, and ``--as`` aliases run too. Only the tags these tests add are removed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.docker_support import prepared_images, remove_tags, requires_docker, run_async

from choreograph.containers import images

REPO = Path(__file__).resolve().parents[3]

pytestmark = [requires_docker, pytest.mark.timeout(900)]  # a cold build takes about a minute


def docker(*args: str) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"docker {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


def choreo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "choreograph.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=dict(os.environ, NO_COLOR="1", COLUMNS="200"),
        timeout=600,
    )


@pytest.fixture
def test_tags() -> Iterator[list[str]]:
    """Names a test tags, removed afterwards whatever happens (the defaults stay)."""
    tags: list[str] = []
    yield tags
    remove_tags(*tags)


def test_a_second_prepare_builds_nothing_and_is_quick() -> None:
    first = prepared_images()
    assert {image.name for image in first} == set(images.DEFAULT_IMAGES.values())
    started = time.monotonic()
    second = run_async(images.prepare())
    seconds = time.monotonic() - started
    assert [image.outcome for image in second if image.outcome == "built"] == []
    assert {image.name for image in second} == set(images.DEFAULT_IMAGES.values())
    assert seconds < 5, f"a prepare with nothing to build took {seconds:.1f} s"


def test_the_command_reports_every_image_up_to_date() -> None:
    prepared_images()
    done = choreo("images", "prepare")
    assert done.returncode == 0, done.stdout + done.stderr
    for name in images.DEFAULT_IMAGES.values():
        assert f"{name} (" in done.stdout
    assert "0 built" in done.stdout


@pytest.mark.parametrize(
    ("image", "command", "expected"),
    [
        (images.GO_BUILD_IMAGE, ["go", "version"], "go version go1."),
        (images.GO_BUILD_IMAGE, ["sh", "-c", "git --version && go env GOPATH"], "/go"),
        (images.NODE_IMAGE, ["node", "-e", "console.log(40 + 2)"], "42"),
        (images.NODE_IMAGE, ["npm", "--version"], "."),
        (images.PYTHON_IMAGE, ["python", "-c", "import sys, venv; print(sys.version)"], "3.11"),
        (images.PYTHON_IMAGE, ["pip", "--version"], "python 3.11"),
        (images.RUNTIME_IMAGE, ["sh", "-c", "echo $((6 * 7)) && test -d /tmp"], "42"),
        (images.DEBIAN_IMAGE, ["cat", "/etc/debian_version"], "12"),
    ],
)
def test_each_image_runs_its_tool(image: str, command: list[str], expected: str) -> None:
    prepared_images()
    assert expected in docker("run", "--rm", "--network", "none", image, *command)


def test_an_alias_runs_as_its_kind(test_tags: list[str]) -> None:
    prepared_images()
    name = f"choreo-test-alias-{os.getpid()}:alpine"
    test_tags.append(name)
    done = choreo("images", "prepare", "--only", "go", "--as", f"{name}=go")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"tagged {name}: the go stand-in" in done.stdout
    assert "go version go1." in docker("run", "--rm", "--network", "none", name, "go", "version")
    again = run_async(images.prepare(["go"], also=[(name, "go")]))
    assert [(i.name, i.outcome) for i in again] == [
        (images.DEBIAN_IMAGE, "up to date"),
        (images.GO_BUILD_IMAGE, "up to date"),
        (name, "up to date"),
    ]


def test_an_alias_leaves_an_image_not_made_here_alone(test_tags: list[str], tmp_path: Path) -> None:
    """A real upstream image under the alias name is kept (without ``--force``)."""
    prepared_images()
    name = f"choreo-test-foreign-{os.getpid()}:1"
    empty = tmp_path / "empty.tar"
    subprocess.run(["tar", "-cf", str(empty), "-T", "/dev/null"], check=True)
    foreign = docker("import", str(empty), name)
    try:
        done = run_async(images.prepare(["runtime"], also=[(name, "runtime")]))
        assert (done[-1].outcome, done[-1].image_id) == ("skipped", foreign)
        assert docker("image", "inspect", "--format", "{{.Id}}", name) == foreign
    finally:
        remove_tags(name, foreign)
