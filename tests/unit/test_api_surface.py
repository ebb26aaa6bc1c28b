"""The two public faces of the Python API are pinned, and the plugin costs nothing.

``choreograph.api`` and ``choreograph.pytest_plugin`` are what outsiders import: a name
leaving ``__all__`` breaks their code, so each change here must be deliberate. The plugin
is loaded by every pytest session of every project that installs Choreograph (this one's
included), so importing it must not pull in the engine, pydantic or pandas.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import choreograph.api
import choreograph.pytest_plugin
from choreograph.api import Controller
from choreograph.errors import InputError


def test_api_surface_is_pinned() -> None:
    assert choreograph.api.__all__ == [
        "Comparison",
        "Controller",
        "MockServices",
        "ResourceSamples",
        "Run",
        "RunArgs",
        "Series",
        "arun",
        "calibrate",
        "compare",
        "load",
        "load_run",
        "load_series",
        "run",
        "series",
    ]
    for name in choreograph.api.__all__:
        assert getattr(choreograph.api, name).__doc__, f"{name} has no docstring"


def test_pytest_plugin_surface_is_pinned() -> None:
    assert choreograph.pytest_plugin.__all__ == [
        "PlanCase",
        "PlanCaseFailed",
        "PlanFile",
        "choreograph",
        "choreograph_home",
    ]


def test_plugin_import_loads_nothing_heavy() -> None:
    code = (
        "import json, sys, pytest; before = set(sys.modules); "
        "import choreograph.pytest_plugin; print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == ["choreograph", "choreograph.pytest_plugin"]


def test_api_import_loads_no_pandas() -> None:
    code = "import sys, choreograph.api; print('pandas' in sys.modules, 'scipy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_the_plugin_is_registered_for_pytest(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.get_plugin("choreograph") is choreograph.pytest_plugin


def test_nothing_to_run_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="give a plan"):
        Controller(tmp_path / "home").run()


def test_a_plan_that_is_not_there_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no plan 'nowhere'"):
        Controller(tmp_path / "home").run("nowhere", "case")


def test_a_metric_series_needs_one_metric(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="disagree"):
        Controller(tmp_path / "home").series("p", "c", until_stable="a", metric="b")
