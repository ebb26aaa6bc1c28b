"""This host's share of one run's network, start to end: the object a runner (or a test,
or a benchmark) opens, applies configs to, and closes.

Opening sweeps leftovers of dead runs, takes the run's lock (so no sweep can take this run
for dead), plans addresses, creates namespaces and the control network, starts the shaping
backend, then addresses and routes everything. Closing undoes it all in reverse, whatever
failed on the way. :meth:`RunNetwork.apply` is what the sidecar calls for each config.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from choreograph.errors import InputError
from choreograph.net import cleanup
from choreograph.net.addresses import DATA_IFNAME, AddressPlan, InstanceAddress, plan_addresses
from choreograph.net.netns import HostNetwork, host_routes
from choreograph.net.shaping.base import ShapingBackend, load_backend
from choreograph.wire.network import DEFAULT_NETWORK, NetworkConfig, RoutingPolicy

DEFAULT_MTU = 1500


@dataclass
class _InstanceState:
    ip: ipaddress.IPv4Address
    policy: RoutingPolicy = RoutingPolicy.ALLOW_ALL
    enabled: bool = True


class RunNetwork:
    """``async with RunNetwork(run_id, hostnames) as net:`` — ``net.plan`` says who is where.

    ``sweep=False`` leaves other runs' leftovers alone: inside a user namespace (rootless
    mode) this process cannot tell which runs on the host are alive.
    """

    def __init__(
        self,
        run_id: str,
        hostnames: Sequence[str],
        *,
        subnet: str | None = None,
        mtu: int = DEFAULT_MTU,
        shaping: str = "userspace",
        log_path: Path | None = None,
        state_dir: Path = cleanup.STATE_DIR,
        sweep: bool = True,
        adopted: bool = False,
        data_ifname: str = DATA_IFNAME,
    ) -> None:
        self.run_id = run_id
        self._hostnames = list(hostnames)
        self._subnet = subnet
        self.mtu = mtu
        self.backend: ShapingBackend = load_backend(shaping)
        self._log_path = log_path
        self._state_dir = state_dir
        self._sweep = sweep
        self._adopted = adopted
        self._data_ifname = data_ifname
        self._ready: list[asyncio.Event] = []
        self._plan: AddressPlan | None = None
        self._host: HostNetwork | None = None
        self._lock: cleanup.RunLock | None = None
        self._states: list[_InstanceState] = []
        self._applying: list[asyncio.Lock] = []

    @property
    def plan(self) -> AddressPlan:
        if self._plan is None:
            raise RuntimeError("the run network is not open")
        return self._plan

    async def __aenter__(self) -> RunNetwork:
        if problems := self.backend.problems():
            raise InputError("; ".join(problems))
        if self._sweep:
            await cleanup.sweep(self._state_dir)
        try:
            plan = plan_addresses(self.run_id, self._hostnames, host_routes(), self._subnet)
            self._lock = cleanup.RunLock(plan.tag, self.run_id, self._state_dir)
            self._lock.acquire()
            self._plan = plan
            self._host = HostNetwork(
                plan, self.mtu, adopted=self._adopted, data_ifname=self._data_ifname
            )
            await self._host.create()
            await self.backend.start(plan, self.mtu, self._log_path, later=self._adopted)
            await self._host.configure()
        except BaseException:
            await self.close()
            raise
        self._states = [_InstanceState(h.data_ip) for h in plan.instances]
        self._applying = [asyncio.Lock() for _ in plan.instances]
        self._ready = [asyncio.Event() for _ in plan.instances]
        if not self._adopted:
            for event in self._ready:
                event.set()
        return self

    async def adopt(self, index: int, pid: int) -> None:
        """Give instance ``index`` its data interface inside the network namespace of
        process ``pid`` (a container's, with ``adopted=True``): from then on it is shaped
        and reconfigured exactly like a namespace this class made."""
        host = self.plan.instances[index]
        assert self._host is not None
        await self._host.adopt(host, pid)
        await self.backend.attach(index, self._data_ifname)
        await self._host.configure_adopted(host)
        self._ready[index].set()

    async def ready(self, index: int) -> None:
        """Return once instance ``index``'s data network is up."""
        await self._ready[index].wait()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Remove everything this run created on the host; safe to call more than once.

        The backend stops first (it reads the data interfaces), then the namespaces go,
        and the kernel removes their devices in one batch."""
        try:
            await self.backend.close()
        finally:
            try:
                if self._host is not None:
                    await asyncio.shield(self._host.destroy())
            finally:
                if self._lock is not None:
                    self._lock.release()

    async def apply(self, index: int, config: NetworkConfig) -> None:
        """Make instance ``index``'s network what ``config`` asks for. Raises
        :class:`InputError` for a config this host cannot honour."""
        host = self.plan.instances[index]
        async with self._applying[index]:
            state = self._states[index]
            new_ip = self._checked_ip(host, config)
            policy = config.routing_policy or state.policy
            if (new_ip, policy, config.enable) != (state.ip, state.policy, state.enabled):
                assert self._host is not None
                await self._host.reconfigure(
                    host, enable=config.enable, policy=policy, old_ip=state.ip, new_ip=new_ip
                )
            if new_ip != state.ip:
                await self.backend.set_address(index, new_ip)
            await self.backend.configure(index, config)
            state.ip, state.policy, state.enabled = new_ip, policy, config.enable

    def address_of(self, index: int) -> ipaddress.IPv4Address:
        """Instance ``index``'s current data-network address."""
        return self._states[index].ip

    async def statistics(self) -> dict[str, Any]:
        return await self.backend.statistics()

    def _checked_ip(self, host: InstanceAddress, config: NetworkConfig) -> ipaddress.IPv4Address:
        if config.network != DEFAULT_NETWORK:
            raise InputError(
                f"network {config.network!r} does not exist; local:netns has {DEFAULT_NETWORK!r}"
            )
        if config.ipv6 is not None:
            raise InputError("IPv6 addresses are not supported by local:netns")
        state = self._states[host.index]
        if config.ipv4 is None or config.ipv4.ip == state.ip:
            return state.ip
        ip, subnet = config.ipv4.ip, self.plan.data_subnet
        reserved = (subnet.network_address, subnet.broadcast_address, self.plan.data_gateway)
        if ip not in subnet or ip in reserved:
            raise InputError(
                f"IPv4 {ip} is not usable in the data network {subnet} "
                f"(its network, broadcast and gateway {self.plan.data_gateway} are reserved)"
            )
        for other, other_state in zip(self.plan.instances, self._states, strict=True):
            if other.index != host.index and other_state.ip == ip:
                raise InputError(f"IPv4 {ip} is already {other.hostname}'s address")
        return ip
