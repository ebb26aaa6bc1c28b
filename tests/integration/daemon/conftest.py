"""A daemon for the tests: in-process (routes, auth, uploads; its scheduler idle) or as a
subprocess on a free port with its own home (runs, restarts), stopped at teardown."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from tests.ports import free_port

from choreograph.config import Settings
from choreograph.daemon.app import create_app
from choreograph.daemon.server import DaemonConfig, build

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "examples"
TOKEN = "test-token-0123456789abcdef"


@dataclass
class DaemonProcess:
    home: Path
    port: int = field(default_factory=free_port)
    args: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return dict(os.environ, CHOREO_HOME=str(self.home), COLUMNS="200", NO_COLOR="1")

    def start(self) -> None:
        log = (self.home.parent / f"daemon-{self.port}.log").open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "choreograph.cli",
                "daemon",
                "--listen",
                f"127.0.0.1:{self.port}",
                *self.args,
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            start_new_session=True,  # its instances can be found (and ended) as its group
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/api/health", timeout=1).status_code in (200, 401):
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError(f"daemon did not start: {self.log()}")

    def log(self) -> str:
        path = self.home.parent / f"daemon-{self.port}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM, then anything left in its process group is killed."""
        if self.proc is None:
            return
        self.kill(signal.SIGTERM)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def choreo(
        self, *args: str, endpoint: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        front = ("--endpoint", self.url) if endpoint else ()
        return subprocess.run(
            [sys.executable, "-m", "choreograph.cli", *front, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=REPO,
        )


@pytest.fixture
def daemon_process(tmp_path: Path) -> Iterator[DaemonProcess]:
    daemon = DaemonProcess(tmp_path / "home")
    daemon.home.mkdir()
    yield daemon
    daemon.stop()


@pytest.fixture
def started(daemon_process: DaemonProcess) -> DaemonProcess:
    daemon_process.start()
    return daemon_process


def api_client(home: Path, tokens: bool, max_upload_mib: float = 200.0) -> TestClient:
    """The app in-process; its scheduler does not run, so tasks stay queued."""
    os.environ.pop("CHOREO_DAEMON_TOKENS", None)
    if tokens:
        os.environ["CHOREO_DAEMON_TOKENS"] = f"ci:{TOKEN}"
    try:
        daemon, _, _ = build(Settings(home=home), DaemonConfig(max_upload_mib=max_upload_mib))
    finally:
        os.environ.pop("CHOREO_DAEMON_TOKENS", None)
    return TestClient(create_app(daemon))
