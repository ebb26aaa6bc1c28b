"""The network client of the SDK: ask the sidecar for a network shape, learn your address.

As in sdk-go and sdk-js, a config is published on the topic ``network:<hostname>`` (scoped
to the run like every topic) and the call returns once ``callback_target`` instances (0:
all) have reached ``callback_state``, which the sidecar signals after applying each one.
Without a sidecar (``TEST_SIDECAR`` not true, e.g. under ``local:exec``) configuration
requests are ignored with a warning, as the other SDKs do.
"""

from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct
import sys
from typing import TYPE_CHECKING, Any, overload

from choreograph.errors import ChoreographError
from choreograph.sdk._blocking import BlockingSyncClient
from choreograph.sdk._runenv import RunEnv
from choreograph.sdk._sync import SyncClient
from choreograph.wire.network import NetworkConfig
from choreograph.wire.topics import NETWORK_INITIALIZED, network_topic

if TYPE_CHECKING:
    from choreograph.sdk._invoke import InitContext

_SIOCGIFADDR = 0x8915
INITIALISATION_SUCCESSFUL = "network initialisation successful"
"""The message sdk-go records (Testground's cluster runner watches for it)."""


class NetworkClient:
    """Shape this instance's data network from ``async`` code.

    ``ctx.net_client`` in an ``async def`` test function, or build one::

        net = NetworkClient(sync_client, runenv)
        await net.configure_network(NetworkConfig(
            default=LinkShape(latency=timedelta(milliseconds=100), bandwidth=1 << 20),
            routing_policy=RoutingPolicy.DENY_ALL,
            callback_state="network-configured",
        ))
        my_ip = net.get_data_network_ip()
    """

    def __init__(self, client: SyncClient, runenv: RunEnv) -> None:
        self.sync_client = client
        self.runenv = runenv

    async def wait_network_initialized(self, *, timeout: float | None = None) -> None:
        """Wait until the sidecar has brought every instance's data network up (at once
        without a sidecar). ``invoke`` already waits before a two-argument test function."""
        if self.runenv.test_sidecar:
            await self.sync_client.barrier(
                NETWORK_INITIALIZED, self.runenv.test_instance_count, timeout=timeout
            )
        self.runenv.record_message(INITIALISATION_SUCCESSFUL)

    async def configure_network(
        self, config: NetworkConfig, *, timeout: float | None = None
    ) -> None:
        """Publish ``config`` for the sidecar and wait until ``config.callback_target``
        instances (0: all) have reached ``config.callback_state``. Raises ``ValueError``
        without a callback state and ``TimeoutError`` after ``timeout`` seconds."""
        if not self.runenv.test_sidecar:
            print(
                "choreograph.sdk: ignoring network change request; "
                "running in a sidecar-less environment",
                file=sys.stderr,
                flush=True,
            )
            return
        if not config.callback_state:
            raise ValueError("configure_network: config.callback_state is empty; name a state")
        target = config.callback_target or self.runenv.test_instance_count
        await self.sync_client.publish_and_wait(
            network_topic(socket.gethostname()),
            config.to_json(),
            config.callback_state,
            target,
            timeout=timeout,
        )

    def get_data_network_ip(self) -> ipaddress.IPv4Address:
        """This instance's address on the data network (``TEST_SUBNET``); 127.0.0.1 without
        a sidecar, as in sdk-js."""
        if not self.runenv.test_sidecar:
            return ipaddress.IPv4Address("127.0.0.1")
        subnet = ipaddress.ip_network(self.runenv.test_subnet, strict=False)
        for address in interface_addresses().values():
            if address in subnet:
                return address
        raise ChoreographError(f"no network interface has an address in the data subnet {subnet}")


class BlockingNetworkClient:
    """The same calls as :class:`NetworkClient`, for plain (non-``async``) code:
    ``ctx.net_client`` in a plain test function."""

    def __init__(self, client: BlockingSyncClient, runenv: RunEnv) -> None:
        self.sync_client = client
        self._core = NetworkClient(client.async_client, runenv)

    def wait_network_initialized(self, *, timeout: float | None = None) -> None:
        """See :meth:`NetworkClient.wait_network_initialized`."""
        self.sync_client._call(self._core.wait_network_initialized(timeout=timeout))

    def configure_network(self, config: NetworkConfig, *, timeout: float | None = None) -> None:
        """See :meth:`NetworkClient.configure_network`."""
        self.sync_client._call(self._core.configure_network(config, timeout=timeout))

    def get_data_network_ip(self) -> ipaddress.IPv4Address:
        """See :meth:`NetworkClient.get_data_network_ip`."""
        return self._core.get_data_network_ip()


def interface_addresses() -> dict[str, ipaddress.IPv4Address]:
    """Each interface's primary IPv4 address, in this network namespace (no /sys needed)."""
    found = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _, name in socket.if_nameindex():
            request = struct.pack("16s16x", name.encode()[:15])
            try:
                answer = fcntl.ioctl(sock.fileno(), _SIOCGIFADDR, request)
            except OSError:  # no IPv4 address
                continue
            found[name] = ipaddress.IPv4Address(answer[20:24])
    return found


class NetClientField:
    """``InitContext.net_client``: a network client of the same kind as the context's sync
    client, blocking for a plain test function, ``async`` for an ``async def`` one."""

    @overload
    def __get__(
        self, obj: InitContext[BlockingSyncClient], owner: Any
    ) -> BlockingNetworkClient: ...

    @overload
    def __get__(self, obj: InitContext[SyncClient], owner: Any) -> NetworkClient: ...

    def __get__(self, obj: Any, owner: Any) -> Any:
        if isinstance(obj.sync_client, BlockingSyncClient):
            return BlockingNetworkClient(obj.sync_client, obj.run_env)
        return NetworkClient(obj.sync_client, obj.run_env)
