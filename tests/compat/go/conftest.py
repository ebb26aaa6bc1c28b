"""Go conformance: plans written against Testground's sdk-go, built by ``exec:go``.

The Go build cache is shared by every test of the session (one CHOREO_HOME), so the
module download and the compile happen once.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

PLANS = Path(__file__).parent / "plans"
REPO = Path(__file__).resolve().parents[3]

if shutil.which("go") is None:
    pytest.skip(
        "Go is not installed: the sdk-go conformance suite needs `go`", allow_module_level=True
    )


@dataclass
class GoChoreo:
    home: Path

    def __call__(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, CHOREO_HOME=str(self.home), COLUMNS="200", NO_COLOR="1")
        return subprocess.run(
            [sys.executable, "-m", "choreograph.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=REPO,
        )

    def last_run(self) -> dict[str, Any]:
        runs = sorted(p for p in (self.home / "runs").iterdir() if p.is_dir())
        record: dict[str, Any] = json.loads((runs[-1] / "run.json").read_text())
        record["_dir"] = str(runs[-1])
        return record


@pytest.fixture(scope="session")
def go_choreo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GoChoreo]:
    yield GoChoreo(tmp_path_factory.mktemp("go-home"))
