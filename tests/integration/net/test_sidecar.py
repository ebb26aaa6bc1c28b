"""The sidecar against a real sync service and a real run network: network-initialized,
configs applied in order with their callback states, refused configs told, not signalled."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest

from choreograph.net.host import RunNetwork
from choreograph.net.sidecar import Sidecar
from choreograph.sdk import SyncClient
from choreograph.sync_service import SyncService
from choreograph.wire.network import LinkShape, NetworkConfig

pytestmark = pytest.mark.root
SCOPE = ("run-sidecar", "plan", "case")


@pytest.fixture
async def service() -> AsyncIterator[tuple[str, int]]:
    sync = SyncService()
    yield await sync.start("127.0.0.1", 0)
    await sync.stop()


async def test_sidecar_serves_every_instance(
    service: tuple[str, int], open_network: Callable[..., RunNetwork]
) -> None:
    told: list[tuple[int, str]] = []
    async with open_network(2) as net, SyncClient.connect(*service, scope=SCOPE) as plan:
        sidecar = Sidecar(net, service, SCOPE, lambda i, m: told.append((i, m)))
        serving = asyncio.create_task(sidecar.serve())
        try:
            await plan.barrier("network-initialized", 2, timeout=10)

            shaped = NetworkConfig(
                default=LinkShape(latency=timedelta(milliseconds=7)), callback_state="shaped"
            )
            await plan.publish_and_wait("network:h-1", shaped.to_json(), "shaped", 1, timeout=10)
            stats = await net.statistics()
            assert sidecar.statistics() == {"applied": 1, "refused": 0}
            assert stats["ports"]["1"]["links"]["-1"]["sent"] == 0  # shaped, nothing sent yet

            bad = NetworkConfig(network="other", callback_state="never")
            await plan.publish("network:h-0", bad.to_json())
            ok = NetworkConfig(callback_state="after-the-bad-one")
            await plan.publish_and_wait(
                "network:h-0", ok.to_json(), "after-the-bad-one", 1, timeout=10
            )
            assert told == [
                (
                    0,
                    "network config refused: network 'other' does not exist; "
                    "local:netns has 'default'",
                )
            ]
            with pytest.raises(TimeoutError):
                await plan.barrier("never", 1, timeout=0.2)
            assert sidecar.statistics() == {"applied": 2, "refused": 1}
        finally:
            serving.cancel()
            with pytest.raises(asyncio.CancelledError):
                await serving
