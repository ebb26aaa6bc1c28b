"""A service that serves instances without a token and an engine with one (``cluster:k8s``
runs it so inside the cluster): tokenless networks and the stats endpoint, over real
sockets. 127.0.0.2 and 127.0.0.3 stand for two networks: Linux routes all of 127/8 to
loopback, so a client can pick its source address."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import urllib.error
import urllib.request

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from choreograph.sync_service import SyncService
from choreograph.sync_service.auth import parse_networks
from choreograph.sync_service.server import STATS_PATH


def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


async def _handshake(url: str, source: str) -> None:
    sock = socket.socket()
    sock.bind((source, 0))
    host, _, port = url.removeprefix("ws://").partition("/")[0].partition(":")
    sock.connect((host, int(port)))
    async with connect(url, sock=sock, proxy=None):
        pass


async def test_peers_of_a_tokenless_network_need_no_token_others_do() -> None:
    service = SyncService(token="s3cret", tokenless=parse_networks(["127.0.0.2/32"]))
    host, port = await service.start("127.0.0.1", 0)
    try:
        await _handshake(f"ws://{host}:{port}/", "127.0.0.2")  # an instance: no token
        with pytest.raises(InvalidStatus, match="401"):
            await _handshake(f"ws://{host}:{port}/", "127.0.0.3")  # anyone else
        await _handshake(f"ws://{host}:{port}/?token=s3cret", "127.0.0.3")
        assert service.statistics()["rejected_handshakes"] == 1
    finally:
        await service.stop()


async def test_the_stats_endpoint_answers_what_the_engine_reads_in_process() -> None:
    service = SyncService(token="s3cret", tokenless=parse_networks(["127.0.0.0/8"]))
    host, port = await service.start("127.0.0.1", 0)
    try:
        for n in range(3):
            await service.publish("run_events", {"n": n})
        await service.signal_entry("ready")
        waiting = asyncio.ensure_future(service.wait_barrier("ready", 4))
        await asyncio.sleep(0.05)
        url = f"http://{host}:{port}{STATS_PATH}?topic=run_events&topic=none&waits=3"

        def get(address: str) -> tuple[int, str]:
            try:
                with _opener().open(address, timeout=5) as answer:
                    return answer.status, answer.read().decode()
            except urllib.error.HTTPError as exc:
                return exc.code, exc.read().decode()

        status, text = await asyncio.to_thread(get, url)
        # A tokenless network is for instances' websockets, not for the stats.
        assert status == 401 and "token" in text
        status, text = await asyncio.to_thread(get, url + "&token=s3cret")
        assert status == 200, text
        body = json.loads(text)
        assert body["published"] == {"run_events": 3, "none": 0}
        assert body["waits"] == [["ready", 1, 4, 1]]
        assert body["statistics"]["messages"] >= 3 and body["refusals"] == []
        bad = f"http://{host}:{port}{STATS_PATH}?waits=x&token=s3cret"
        status, _ = await asyncio.to_thread(get, bad)
        assert status == 400
        assert await service.published_count("run_events") == 3
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiting
    finally:
        await service.stop()
