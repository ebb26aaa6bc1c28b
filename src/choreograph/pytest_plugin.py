"""The pytest plugin (entry point ``pytest11``): distributed tests beside unit tests.

Installing Choreograph installs the plugin; it does nothing until used, and importing it
imports nothing of Choreograph's own (the engine loads on the first run).

**The fixture** ``choreograph`` is a :class:`choreograph.api.Controller` on a fresh home
per test (``tmp_path/choreo-home``), so tests do not see each other's runs::

    def test_barrier(choreograph):
        run = choreograph.run("plans/sync", "barrier", instances=5)
        assert run.success, run.summary()
        assert max(run.resource_samples()["single/0"].rss_bytes) < 200 << 20

``--choreo-home DIR`` (or ``choreo_home = DIR`` in the ini file) uses one home for every
test instead: its plan store, and its build cache across sessions. Override the
``choreograph_home`` fixture to choose per test.

**Plan cases as tests**: list plan folders in the ini file, and each test case of each
plan becomes a test, ``plans/sync/manifest.toml::barrier``, run with the case's default
instance count, passing when the run succeeds; a failure shows the outcome per group and
each failed instance's error. They carry the ``choreograph`` marker (``-m "not
choreograph"`` leaves them out)::

    [pytest]
    choreo_plans =
        plans/sync
        plans/chaos
    choreo_timeout = 120

A plan is collected where pytest collects files: its folder must be under the paths
pytest walks (``testpaths``, or the paths given). A file named ``manifest.toml`` that is
not listed is never collected: a plan's cases can be slow, and running them must be a
choice. Plan cases share one home per session (the configured one, or one in pytest's
temporary folder, kept for the last few sessions so a failure's run folder can be read).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from choreograph.api import Controller, Run

__all__ = ["PlanCase", "PlanCaseFailed", "PlanFile", "choreograph", "choreograph_home"]

_PLANS = pytest.StashKey[frozenset[Path]]()
_CONTROLLER = pytest.StashKey["Controller"]()
MARKER = "choreograph"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("choreograph", "Choreograph (distributed test plans)")
    group.addoption(
        "--choreo-home",
        dest="choreo_home",
        default=None,
        help="Choreograph home for the choreograph fixture and plan cases "
        "(default: a temporary one per test)",
    )
    parser.addini("choreo_home", "Choreograph home (see --choreo-home)", default="")
    parser.addini(
        "choreo_plans", "plan folders whose test cases are collected as tests", type="paths"
    )
    parser.addini("choreo_timeout", "seconds a plan case may run (default: the home's)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}: a test case of a Choreograph plan")
    plans = [Path(p).resolve() for p in config.getini("choreo_plans")]
    for plan in plans:
        if not (plan / "manifest.toml").is_file():
            raise pytest.UsageError(f"choreo_plans: {plan} has no manifest.toml (not a plan)")
    config.stash[_PLANS] = frozenset(plans)
    timeout = config.getini("choreo_timeout")
    try:
        if timeout and not float(timeout) > 0:
            raise ValueError
    except ValueError:
        raise pytest.UsageError(
            f"choreo_timeout: expected seconds > 0, found {timeout!r}"
        ) from None


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> PlanFile | None:
    if file_path.name != "manifest.toml":
        return None
    if file_path.parent.resolve() not in parent.config.stash.get(_PLANS, frozenset()):
        return None
    plan_file: PlanFile = PlanFile.from_parent(parent, path=file_path)
    return plan_file


def _configured_home(config: pytest.Config) -> Path | None:
    home = config.getoption("choreo_home") or config.getini("choreo_home")
    return Path(home).expanduser() if home else None


@pytest.fixture
def choreograph_home(request: pytest.FixtureRequest) -> Path:
    """The home of the ``choreograph`` fixture: ``--choreo-home``/``choreo_home`` when
    set, else ``tmp_path/choreo-home``."""
    configured = _configured_home(request.config)
    if configured is not None:
        return configured
    tmp_path: Path = request.getfixturevalue("tmp_path")
    return tmp_path / "choreo-home"


@pytest.fixture
def choreograph(choreograph_home: Path) -> Controller:
    """A :class:`~choreograph.api.Controller` on ``choreograph_home``: ``.run(plan, case,
    instances=…, params=…)`` returns a :class:`~choreograph.api.Run`, and ``.series``,
    ``.benchmark`` and ``.compare`` are there too."""
    from choreograph.api import Controller

    return Controller(choreograph_home)


class PlanCaseFailed(Exception):
    """A plan case's run did not succeed; the test report shows its outcome."""

    def __init__(self, run: Run) -> None:
        super().__init__(run.summary())
        self.run = run


class PlanFile(pytest.File):
    """A listed plan's ``manifest.toml``: one :class:`PlanCase` per test case."""

    def collect(self) -> list[PlanCase]:
        from choreograph.plan import load_manifest

        manifest = load_manifest(self.path)
        cases: list[PlanCase] = [
            PlanCase.from_parent(self, name=tc.name) for tc in manifest.testcases
        ]
        return cases

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        return _without_traceback(excinfo) or super().repr_failure(excinfo)


class PlanCase(pytest.Item):
    """One test case of a plan, run with its default instance count."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_marker(MARKER)

    def runtest(self) -> None:
        timeout = self.config.getini("choreo_timeout")
        args: dict[str, Any] = {"timeout": float(timeout)} if timeout else {}
        run = _session_controller(self.config).run(self.path.parent, self.name, **args)
        self.user_properties.append(("choreograph_run", str(run.folder)))
        if not run.success:
            raise PlanCaseFailed(run)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, PlanCaseFailed):
            return str(excinfo.value)
        return _without_traceback(excinfo) or super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"plan {self.path.parent.name}, case {self.name}"


def _without_traceback(excinfo: pytest.ExceptionInfo[BaseException]) -> str | None:
    """A Choreograph error (a bad manifest, a failed build) as its message alone: it names
    the file and field to fix, and a traceback into Choreograph would only hide it."""
    from choreograph.errors import ChoreographError

    if isinstance(excinfo.value, ChoreographError):
        return f"{type(excinfo.value).__name__}: {excinfo.value}"
    return None


def _session_controller(config: pytest.Config) -> Controller:
    """One controller, one home, for every plan case of the session: builds are shared."""
    from choreograph.api import Controller

    if _CONTROLLER not in config.stash:
        home = _configured_home(config)
        if home is None:
            # pytest's own temporary folders: kept for the last few sessions, then removed.
            factory: pytest.TempPathFactory = config._tmp_path_factory  # type: ignore[attr-defined]
            home = factory.mktemp("choreo-home")
        config.stash[_CONTROLLER] = Controller(home)
    return config.stash[_CONTROLLER]
