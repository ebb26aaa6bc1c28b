"""Plans whose cold build takes minutes are built once per session, before the first test.

A test that runs such a plan (cargo for the Rust SDK plan, sdk-go's module download and
compile, ``npm ci``) says so with ``@pytest.mark.prebuilt(*build_args, tools=…)``, where
``build_args`` are what follows ``choreo build`` (``"single", "--plan", PLAN`` or
``"composition", "-f", FILE``); ``images=True`` makes the default Docker base images
first (``choreo images prepare``), for ``docker:*`` builds. Once the tests are selected,
every plan a selected test names is built into one shared builds folder, outside every
test: pytest's per-test timeout measures the tests, not a cold compiler (a cold cargo
build took 295-418 s on a busy 2-core host). Tests then run with homes whose ``builds``
is that folder (the ``shared_builds`` fixture) and find their builds in the cache.

A plan whose ``tools`` are missing is not built (its tests skip, or fail in CI, as they
say); a plan whose build fails fails its tests at once with the build's output, instead
of each test building it again. ``CHOREO_TEST_SHARED_BUILDS`` names a folder to keep the
builds in across sessions; by default they go in pytest's temporary folder, removed at
the end. ``tests/conftest.py`` registers the hooks and fixtures of this module.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_BUILDS_ENV = "CHOREO_TEST_SHARED_BUILDS"
PREBUILD_TIMEOUT = 1800
"""Seconds one plan's build may take: a cold cargo build on a busy host takes up to 7 min."""


@dataclass
class _Prebuilds:
    config: pytest.Config
    failures: dict[tuple[str, ...], str] = field(default_factory=dict)
    _builds: Path | None = None
    _temporary: bool = False

    @property
    def builds(self) -> Path:
        """The shared builds folder, made on first use."""
        if self._builds is None:
            if folder := os.environ.get(SHARED_BUILDS_ENV):
                self._builds = Path(folder).resolve()
                self._builds.mkdir(parents=True, exist_ok=True)
            else:
                # pytest's own temporary folders: a killed session's builds go with them
                factory: pytest.TempPathFactory = self.config._tmp_path_factory  # type: ignore[attr-defined]
                self._builds, self._temporary = factory.mktemp("shared-builds"), True
        return self._builds

    def remove(self) -> None:
        if self._builds is not None and self._temporary:
            shutil.rmtree(self._builds, ignore_errors=True)


_PREBUILDS = pytest.StashKey[_Prebuilds]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_PREBUILDS] = _Prebuilds(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    if prebuilds := config.stash.get(_PREBUILDS, None):
        prebuilds.remove()  # they take a gigabyte: do not wait for pytest's retention


def pytest_collection_finish(session: pytest.Session) -> None:
    config = session.config
    if config.option.collectonly:
        return
    wanted: dict[tuple[str, ...], set[str]] = {}  # build args → tools
    imaged: set[tuple[str, ...]] = set()  # docker:* builds: the base images first
    for item in session.items:
        if _skipped(item):
            continue
        for marker in item.iter_markers("prebuilt"):
            args = tuple(str(arg) for arg in marker.args)
            wanted.setdefault(args, set()).update(marker.kwargs.get("tools", ()))
            if marker.kwargs.get("images"):
                imaged.add(args)
    todo = [args for args, tools in wanted.items() if all(shutil.which(t) for t in tools)]
    if not todo:
        return
    prebuilds = config.stash[_PREBUILDS]
    say = _writer(config)
    say(f"building {len(todo)} plan(s) for the selected tests into {prebuilds.builds}")
    with _home(prebuilds.builds) as home:
        for args in todo:
            started = time.monotonic()
            failure = _base_images() if args in imaged else None
            failure = failure or _build(home, args)
            outcome = "FAILED" if failure else "ok"
            say(f"  choreo build {' '.join(args)}: {outcome} in {time.monotonic() - started:.0f} s")
            if failure:
                prebuilds.failures[args] = failure


def _skipped(item: pytest.Item) -> bool:
    """Whether a ``skip`` mark, or a ``skipif`` mark with a true condition, skips ``item``
    (e.g. the Rust plan's tests when not root): its plan need not be built."""
    if any(True for _ in item.iter_markers("skip")):
        return True
    return any(
        any(c is True for c in marker.args) or marker.kwargs.get("condition") is True
        for marker in item.iter_markers("skipif")
    )


def _base_images() -> str | None:
    """Why the default base images could not be made (``choreo images prepare``, once per
    session, as the Docker tests make them), or None when they exist."""
    from tests.docker_support import _prepare_once

    _, skipped, failure = _prepare_once()
    return failure or skipped or None


def _build(home: Path, args: tuple[str, ...]) -> str | None:
    """Why ``choreo build *args`` failed, or None when it built (or found) the plan.

    The build runs in a session of its own, and the whole session (cargo, go, npm and
    their children) is killed if it times out or pytest is interrupted."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "choreograph.cli", "build", *args],
        env=dict(os.environ, CHOREO_HOME=str(home), NO_COLOR="1", COLUMNS="200"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=PREBUILD_TIMEOUT)
    except BaseException as exc:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        if isinstance(exc, subprocess.TimeoutExpired):
            return f"still building after {PREBUILD_TIMEOUT} s"
        raise
    if proc.returncode != 0:
        return f"exit {proc.returncode}\n{out[-2000:]}\n{err[-4000:]}"
    return None


@contextlib.contextmanager
def _home(builds: Path) -> Iterator[Path]:
    """A throwaway ``CHOREO_HOME`` whose ``builds`` is ``builds``."""
    with tempfile.TemporaryDirectory(prefix="choreo-prebuild-home-") as folder:
        home = Path(folder)
        (home / "builds").symlink_to(builds, target_is_directory=True)
        yield home


def _writer(config: pytest.Config) -> Callable[[str], None]:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return print
    return lambda line: reporter.write_line(line)


@pytest.fixture(scope="session")
def shared_builds(pytestconfig: pytest.Config) -> Path:
    """The session's builds folder: point a ``CHOREO_HOME``'s ``builds`` at it."""
    return pytestconfig.stash[_PREBUILDS].builds


@pytest.fixture(autouse=True)
def _prebuilt(request: pytest.FixtureRequest) -> None:
    """Fail a test at once when the plan it runs did not build before the session."""
    failures = request.config.stash[_PREBUILDS].failures
    for marker in request.node.iter_markers("prebuilt"):
        args = tuple(str(arg) for arg in marker.args)
        if args in failures:
            pytest.fail(
                f"`choreo build {' '.join(args)}` failed before the tests:\n{failures[args]}"
            )
