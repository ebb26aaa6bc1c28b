"""NetworkClient against a real sync service and a stand-in sidecar: the topic and states
it uses are the scoped ones sdk-go and sdk-js use, and it waits for the callback."""

import asyncio
import ipaddress
import socket
from datetime import timedelta

import pytest

from choreograph.sdk import (
    BlockingNetworkClient,
    BlockingSyncClient,
    LinkShape,
    NetworkClient,
    NetworkConfig,
    RunEnv,
    SyncClient,
)

from .conftest import SCOPE

CONFIG = NetworkConfig(
    default=LinkShape(latency=timedelta(milliseconds=100), bandwidth=1 << 20),
    callback_state="configured",
)


def make_runenv(address: tuple[str, int], *, sidecar: bool, count: int = 1) -> RunEnv:
    run, plan, case = SCOPE
    return RunEnv.from_env(
        {
            "TEST_PLAN": plan,
            "TEST_CASE": case,
            "TEST_RUN": run,
            "TEST_INSTANCE_COUNT": str(count),
            "TEST_SIDECAR": "true" if sidecar else "false",
            "TEST_SUBNET": "127.0.0.0/8",
            "SYNC_SERVICE_HOST": address[0],
            "SYNC_SERVICE_PORT": str(address[1]),
        }
    )


async def fake_sidecar(address: tuple[str, int], seen: list[object]) -> None:
    """Subscribes with the raw scoped key, as Testground's sidecar does, and answers."""
    run, plan, case = SCOPE
    async with SyncClient.connect(*address, scope=None) as raw:
        topic = f"run:{run}:plan:{plan}:case:{case}:topics:network:{socket.gethostname()}"
        async with await raw.subscribe(topic) as configs:
            payload = await configs.get(timeout=5)
            seen.append(payload)
            state = NetworkConfig.from_json(payload).callback_state
            await raw.signal_entry(f"run:{run}:plan:{plan}:case:{case}:states:{state}")


async def test_configure_publishes_on_the_scoped_topic_and_waits_for_the_callback(
    address: tuple[str, int],
) -> None:
    runenv = make_runenv(address, sidecar=True)
    seen: list[object] = []
    async with SyncClient.connect(runenv) as client:
        sidecar = asyncio.create_task(fake_sidecar(address, seen))
        await NetworkClient(client, runenv).configure_network(CONFIG, timeout=5)
        await sidecar
    assert NetworkConfig.from_json(seen[0]) == CONFIG


async def test_configure_waits_until_the_callback_target(address: tuple[str, int]) -> None:
    runenv = make_runenv(address, sidecar=True, count=2)
    async with SyncClient.connect(runenv) as client:
        net = NetworkClient(client, runenv)
        with pytest.raises(TimeoutError):  # one signal of two
            await asyncio.gather(
                net.configure_network(CONFIG, timeout=0.5), fake_sidecar(address, [])
            )


async def test_without_a_sidecar_requests_are_ignored(
    address: tuple[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    runenv = make_runenv(address, sidecar=False)
    async with SyncClient.connect(runenv) as client:
        net = NetworkClient(client, runenv)
        await net.configure_network(CONFIG, timeout=1)
        await net.wait_network_initialized(timeout=1)
        assert net.get_data_network_ip() == ipaddress.IPv4Address("127.0.0.1")
    assert "sidecar-less" in capsys.readouterr().err


async def test_a_callback_state_is_required(address: tuple[str, int]) -> None:
    runenv = make_runenv(address, sidecar=True)
    async with SyncClient.connect(runenv) as client:
        with pytest.raises(ValueError, match="callback_state"):
            await NetworkClient(client, runenv).configure_network(NetworkConfig())


async def test_wait_network_initialized_is_a_barrier(address: tuple[str, int]) -> None:
    runenv = make_runenv(address, sidecar=True, count=2)
    async with SyncClient.connect(runenv) as client:
        net = NetworkClient(client, runenv)
        with pytest.raises(TimeoutError):
            await net.wait_network_initialized(timeout=0.2)
        await client.signal_entry("network-initialized")
        await client.signal_entry("network-initialized")
        await net.wait_network_initialized(timeout=2)


async def test_blocking_face_and_data_network_ip(address: tuple[str, int]) -> None:
    runenv = make_runenv(address, sidecar=True)

    def scenario() -> None:  # blocking code, in a thread while the service runs here
        with BlockingSyncClient.connect(runenv) as client:
            net = BlockingNetworkClient(client, runenv)
            assert net.get_data_network_ip() == ipaddress.IPv4Address("127.0.0.1")  # lo
            client.signal_entry("network-initialized")
            net.wait_network_initialized(timeout=2)

    await asyncio.wait_for(asyncio.to_thread(scenario), 20)
