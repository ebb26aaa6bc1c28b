"""Go conformance: plans written against Testground's sdk-go, built by ``exec:go``.

The compat suite's ``choreo`` fixture runs the CLI; every test's home shares the session's
build folder, so the Go module download and the compile happen once per session.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ..conftest import require_tools

PLANS = Path(__file__).parent / "plans"


@pytest.fixture(autouse=True)
def go() -> None:
    require_tools("go")
