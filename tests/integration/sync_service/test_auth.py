"""A service with a token refuses handshakes without it; standalone ones stay on loopback
unless given a token."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

import pytest
from typer.testing import CliRunner
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from choreograph.cli.app import app
from choreograph.sync_service import SyncService

TOKEN = "tok-3f9a"
SIGNAL = '{"id":"1","signal_entry":{"state":"s"}}'


async def _round_trip(ws) -> dict:
    await ws.send(SIGNAL)
    answer = json.loads(await ws.recv())
    assert isinstance(answer, dict)
    return answer


async def test_a_handshake_without_the_token_gets_401_and_with_it_works():
    async with SyncService(token=TOKEN) as service:
        host, port = service.address
        url = f"ws://{host}:{port}"
        for attempt in (
            {"uri": url},
            {"uri": url, "additional_headers": {"Authorization": "Bearer wrong"}},
            {"uri": f"{url}/?token=wrong"},
        ):
            with pytest.raises(InvalidStatus) as refused:
                await connect(**attempt)
            assert refused.value.response.status_code == 401
            assert b"needs a token" in refused.value.response.body
        assert service.statistics()["rejected_handshakes"] == 3
        assert service.statistics()["connections"] == 0

        async with connect(url, additional_headers={"Authorization": f"Bearer {TOKEN}"}) as ws:
            assert (await _round_trip(ws))["signal_entry"] == {"seq": 1}
        # For clients that cannot set headers (a browser's WebSocket).
        async with connect(f"{url}/?token={TOKEN}") as ws:
            assert (await _round_trip(ws))["signal_entry"] == {"seq": 2}


async def test_without_a_token_every_handshake_is_accepted():
    # What local runs use: Testground's SDKs cannot send a token.
    async with SyncService() as service:
        host, port = service.address
        async with connect(f"ws://{host}:{port}") as ws:
            assert (await _round_trip(ws))["error"] == ""
        assert service.statistics()["rejected_handshakes"] == 0


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3"])
def test_the_cli_refuses_to_listen_beyond_loopback_without_a_token(host, monkeypatch):
    monkeypatch.delenv("CHOREO_SYNC_TOKEN", raising=False)
    result = CliRunner().invoke(app, ["sync-service", "--host", host, "--port", "0"])
    assert result.exit_code == 2, result.output
    assert "without a token" in result.output and "--token" in result.output


@pytest.mark.parametrize("module", ["choreograph.sync_service", "choreograph.sync_service.server"])
def test_the_module_refuses_too_with_one_clear_line(module):
    env = {k: v for k, v in os.environ.items() if k != "CHOREO_SYNC_TOKEN"}
    done = subprocess.run(
        [sys.executable, "-m", module, "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 2
    # (Python itself may warn first about running a module its package imported.)
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: refusing to listen on 0.0.0.0 without a token"), done.stderr


async def test_the_standalone_service_listens_on_loopback_by_default():
    env = {k: v for k, v in os.environ.items() if k != "CHOREO_SYNC_TOKEN"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "choreograph.sync_service", "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        found = re.search(r"listening on (\S+):(\d+)", line)
        assert found, line
        assert found.group(1) == "127.0.0.1"
        async with connect(f"ws://127.0.0.1:{found.group(2)}") as ws:
            assert (await _round_trip(ws))["error"] == ""
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            assert proc.wait(timeout=30) == 0, "the service did not stop cleanly on SIGINT"
        finally:
            if proc.poll() is None:  # never leave the service behind, even when failing
                proc.kill()
                proc.wait()
