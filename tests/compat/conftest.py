"""The Testground conformance suite's machinery: run ``choreo`` as a user does, read what
a run recorded, and talk to a sync service frame by frame.

Every test gets its own ``CHOREO_HOME`` (its own runs), but all homes share the session's
``builds`` folder (``shared_builds``, tests/prebuild.py), so each plan builds once per test
session instead of once per test; plans whose cold build takes minutes (cargo, sdk-go,
``npm ci``) are marked ``prebuilt`` and built before the first test.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from choreograph.sync_service import SyncService

REPO = Path(__file__).resolve().parents[2]
COMPAT = Path(__file__).resolve().parent
JS_PLANS = COMPAT / "js" / "plans"


def require_tools(*tools: str) -> None:
    """Skip when a tool is missing here; in CI (CI=true) a missing tool is a failure,
    because `.ci/run` is responsible for installing it."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if not missing:
        return
    reason = f"{', '.join(missing)} not installed"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: .ci/run must install it")
    pytest.skip(reason)


@pytest.fixture
def node() -> None:
    require_tools("node", "npm")


@dataclass
class Run:
    """One finished ``choreo`` invocation and the run folder it wrote (if any)."""

    proc: subprocess.CompletedProcess[str]
    run_dir: Path | None

    @property
    def code(self) -> int:
        return self.proc.returncode

    @property
    def stdout(self) -> str:
        return self.proc.stdout

    @property
    def stderr(self) -> str:
        return self.proc.stderr

    @property
    def record(self) -> dict[str, Any]:
        assert self.run_dir is not None, f"no run folder; output:\n{self}"
        record: dict[str, Any] = json.loads((self.run_dir / "run.json").read_text())
        return record

    @property
    def instances(self) -> dict[str, dict[str, Any]]:
        """``outcome.instances`` of run.json: status, error, returncode, decided_by."""
        instances: dict[str, dict[str, Any]] = self.record["outcome"]["instances"]
        return instances

    def statuses(self) -> dict[str, str]:
        return {key: o["status"] for key, o in self.instances.items()}

    def table_row(self, group: str) -> list[str]:
        """The printed outcome table's cells for ``group``: ok/total, failed, crashed, stopped."""
        for line in self.stdout.splitlines():
            cells = re.findall(r"[\w./-]+", line)
            if cells and cells[0] == group and re.fullmatch(r"\d+/\d+", cells[1]):
                return cells[1:]
        raise AssertionError(f"no table row for group {group!r} in:\n{self.stdout}")

    def events(self, key: str) -> list[dict[str, Any]]:
        """Every event the instance ``key`` (``group/index``) logged in its run.out."""
        assert self.run_dir is not None
        events = []
        for line in (self.run_dir / key / "run.out").read_text().splitlines():
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict) and isinstance(obj.get("event"), dict):
                events.append(obj["event"])
        return events

    def messages(self, key: str) -> list[str]:
        return [e["message_event"]["message"] for e in self.events(key) if "message_event" in e]

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


@dataclass
class Choreo:
    home: Path

    def __call__(self, *args: str, timeout: float = 120, env: dict[str, str] | None = None) -> Run:
        env = dict(
            os.environ, CHOREO_HOME=str(self.home), COLUMNS="200", NO_COLOR="1", **(env or {})
        )
        proc = subprocess.run(
            [sys.executable, "-m", "choreograph.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=REPO,
        )
        runs = sorted((self.home / "runs").glob("*/run.json"))
        return Run(proc, runs[-1].parent if runs else None)


@pytest.fixture
def choreo(tmp_path: Path, shared_builds: Path) -> Iterator[Choreo]:
    home = tmp_path / "home"
    home.mkdir()
    (home / "builds").symlink_to(shared_builds, target_is_directory=True)
    yield Choreo(home)


# --- raw websocket frames -------------------------------------------------------------


class RawClient:
    """One websocket to the service: text goes out exactly as given, frames come back parsed."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def send(self, text: str) -> None:
        await self.ws.send(text)

    async def recv_text(self, timeout: float = 5.0) -> str:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        assert isinstance(raw, str), f"the service sent a binary frame: {raw!r:.100}"
        return raw

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        frame = json.loads(await self.recv_text(timeout))
        assert isinstance(frame, dict), frame
        return frame

    async def expect_silence(self, seconds: float = 0.2) -> None:
        try:
            raw = await asyncio.wait_for(self.ws.recv(), seconds)
        except TimeoutError:
            return
        raise AssertionError(f"expected no frame, got {raw!r:.200}")


@pytest.fixture
async def sync_service() -> AsyncIterator[SyncService]:
    async with SyncService() as service:
        yield service


@pytest.fixture
async def raw_client(sync_service: SyncService) -> AsyncIterator[Any]:
    """``await raw_client()`` opens a connection; all are closed after the test."""
    opened: list[ClientConnection] = []
    host, port = sync_service.address

    async def open_client() -> RawClient:
        ws = await connect(f"ws://{host}:{port}", compression=None)
        opened.append(ws)
        return RawClient(ws)

    yield open_client
    await asyncio.gather(*(ws.close() for ws in opened))
