"""The sidecar of one run on this host: the protocol side of traffic shaping.

An ordinary sync client, scoped to the run as the SDKs scope theirs (Testground's sidecar
scopes its client with the run's params too, so ``network:<hostname>`` and the callback
states are ``run:<run>:plan:<plan>:case:<case>:…`` keys). Per instance it subscribes to
``network:<hostname>``, signals ``network-initialized`` once the instance's data network
is up, then applies each config in order and signals its callback state.

It runs as a task in the runner's event loop: it only waits on the sync service and on
the switch's control socket, so it costs nothing while idle and needs no process of its
own. A config the host cannot honour is reported to the instance (its ``run.err``) and its
callback state is *not* signalled: the plan's ``configure_network`` then times out rather
than run on a network it did not ask for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from choreograph.errors import InputError
from choreograph.net.addresses import AddressPlan
from choreograph.sdk import SyncClient
from choreograph.wire.network import NetworkConfig
from choreograph.wire.topics import NETWORK_INITIALIZED, network_topic

Report = Callable[[int, str], None]
"""``report(instance index, message)``: where refused configs are told."""


class AppliesConfigs(Protocol):
    """A run's network as the sidecar needs it (``RunNetwork``, or its rootless proxy)."""

    @property
    def plan(self) -> AddressPlan: ...

    async def apply(self, index: int, config: NetworkConfig) -> None: ...

    async def ready(self, index: int) -> None:
        """Return once instance ``index``'s data network is up (at once for a network
        made whole before its instances start; a container's comes after it starts)."""
        ...


class Sidecar:
    def __init__(
        self,
        network: AppliesConfigs,
        sync_address: tuple[str, int],
        scope: tuple[str, str, str],
        report: Report,
    ) -> None:
        self.network = network
        self._address = sync_address
        self._scope = scope
        self._report = report
        self.applied = 0
        self.refused = 0

    async def serve(self) -> None:
        """Serve every instance until cancelled."""
        host, port = self._address
        async with (
            SyncClient.connect(host, port, scope=self._scope) as client,
            asyncio.TaskGroup() as tg,
        ):
            for instance in self.network.plan.instances:
                tg.create_task(self._serve_instance(client, instance.index, instance.hostname))

    async def _serve_instance(self, client: SyncClient, index: int, hostname: str) -> None:
        async with await client.subscribe(network_topic(hostname)) as configs:
            await self.network.ready(index)
            await client.signal_entry(NETWORK_INITIALIZED)
            async for payload in configs:
                try:
                    config = NetworkConfig.from_json(payload)
                    await self.network.apply(index, config)
                except InputError as exc:
                    self.refused += 1
                    self._report(index, f"network config refused: {exc}")
                    continue
                self.applied += 1
                if config.callback_state:
                    await client.signal_entry(config.callback_state)

    def statistics(self) -> dict[str, int]:
        return {"applied": self.applied, "refused": self.refused}
