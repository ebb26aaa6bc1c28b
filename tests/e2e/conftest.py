"""End-to-end helpers: run ``choreo`` exactly as a user types it, in a private home."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


@dataclass
class Choreo:
    home: Path

    @property
    def env(self) -> dict[str, str]:
        return dict(os.environ, CHOREO_HOME=str(self.home), COLUMNS="200", NO_COLOR="1")

    def __call__(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "choreograph.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=REPO,
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "choreograph.cli", *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=REPO,
        )

    def runs(self) -> list[Path]:
        runs = self.home / "runs"
        return sorted(p for p in runs.iterdir() if p.is_dir()) if runs.exists() else []

    def last_run(self) -> dict[str, Any]:
        record: dict[str, Any] = json.loads((self.runs()[-1] / "run.json").read_text())
        return record


@pytest.fixture
def choreo(tmp_path: Path) -> Iterator[Choreo]:
    yield Choreo(tmp_path / "home")
