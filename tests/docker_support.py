"""Docker for tests: whether it can be used here, and the default images made once per
test process with the same code as ``choreo images prepare``.

No registry is reachable on our hosts and CI, so every test that builds or runs a
container needs the local stand-ins of ``golang:1.26-bookworm``, ``busybox:1.36-glibc``
and the others. They are a cache shared by every test and every session (a cold build
takes about a minute, a warm check about a second): tests never remove them, only the
extra names they tag themselves (:func:`remove_tags`, in a ``finally``).

    from tests.docker_support import prepared_images, requires_docker

    @requires_docker
    def test_something() -> None:
        prepared_images()
        ...
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from choreograph.containers import client, images
from choreograph.errors import BuildError, HostError

T = TypeVar("T")


@functools.cache
def docker_problem() -> str | None:
    """Why Docker cannot be used from here (with how to start it), or None. Asked once
    per process: the answer does not change during a session."""
    return images.docker_problem()


IN_CI = os.environ.get("CI") == "true"
"""In CI a missing Docker is a failure, not a skip: `.ci/run` installs and starts it."""

requires_docker = pytest.mark.skipif(
    docker_problem() is not None and not IN_CI, reason=f"Docker is unusable: {docker_problem()}"
)


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to the end from sync code or from inside a running event loop
    (an async test), on a thread of its own with a loop of its own."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@functools.cache
def _prepare_once() -> tuple[list[images.PreparedImage], str, str]:
    """``(results, skip reason, failure)``: the outcome of the one real prepare, kept so
    a host that cannot build the images does not try again for every test."""
    lines: list[str] = []
    try:
        return run_async(images.prepare(log=lines.append)), "", ""
    except HostError as exc:
        return [], f"cannot prepare the default images here: {exc}", ""
    except BuildError as exc:
        log = "\n".join(lines[-40:])
        return [], "", f"`choreo images prepare` failed: {exc}\n{log}"


def prepared_images() -> list[images.PreparedImage]:
    """Make sure every default image (``images.DEFAULT_IMAGES``) exists, built by the code
    of ``choreo images prepare``; cheap after the first call in a process. Skips the test
    when Docker or a tool the images need is missing here; fails it when a build fails."""
    if problem := docker_problem():
        (pytest.fail if IN_CI else pytest.skip)(f"Docker is unusable: {problem}")
    results, skip, failure = _prepare_once()
    if skip:
        (pytest.fail if IN_CI else pytest.skip)(skip)
    if failure:
        pytest.fail(failure)
    return results


def remove_tags(*names: str) -> None:
    """Remove test-only tags; the image stays while another name (a default) holds it."""
    if names:
        run_async(client.docker("image", "rm", *names, check=False))
