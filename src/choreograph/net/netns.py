"""Namespaces and links of one run on this host, created and removed in batches.

Measured here: one ``ip -batch`` process for many steps costs 3.7 ms per host, pyroute2
24 ms per host, one ``ip`` process per step 35-43 ms. So set-up is two ``ip -batch``
processes, one in the root namespace (every namespace, every veth, the gateway) and one in
the switch namespace (the bridge and its ports), then netlink messages from one worker
thread that visits each namespace for what must be done inside it (addresses, routes; see
:mod:`~choreograph.net.rtnl`). Data interfaces are TUN devices the shaping backend creates
itself (it holds their file descriptors); they are removed with their namespaces.

Topology::

    root ns: gateway veth ch<tag>g (control .1)    uplink TUN ch<tag>u (data .1)
                 │                                        │ (switch process)
    choreo-<tag>-sw: up0 ── br0 ── p<i> (isolated ports: instances cannot talk here)
                                    │
    choreo-<tag>-<i>: eth0 (control .i+2)   eth1 TUN (data .i+2, default route)

Instances' interfaces have Testground's names (``eth0`` control, ``eth1`` data), the names
its local:docker and Kubernetes runners give them and that plans look up.

The bridge lives in its own namespace: a root-namespace bridge is subject to the host's
iptables FORWARD policy, which is DROP once Docker has run.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Interface

from choreograph.errors import RunnerError
from choreograph.net._enter import in_netns
from choreograph.net.addresses import CONTROL_IFNAME, DATA_IFNAME, AddressPlan, InstanceAddress
from choreograph.net.rtnl import Rtnl, is_missing
from choreograph.wire.network import RoutingPolicy

BRIDGE = "br0"
SWITCH_UPLINK = "up0"


async def run_ip(lines: Sequence[str], netns: str | None = None, *, force: bool = False) -> None:
    """Run ``lines`` through one ``ip -batch`` process (inside ``netns`` when given)."""
    argv = ["ip", *(["-n", netns] if netns else []), *(["-force"] if force else []), "-batch", "-"]
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
    except FileNotFoundError:
        raise RunnerError("the `ip` command (iproute2) is not installed") from None
    _, err = await proc.communicate(("\n".join(lines) + "\n").encode())
    if proc.returncode != 0 and not force:
        where = f" in {netns}" if netns else ""
        raise RunnerError(f"ip -batch{where} failed: {err.decode(errors='replace').strip()}")


def host_routes(path: str = "/proc/net/route") -> list[ipaddress.IPv4Network]:
    """Every IPv4 destination in this namespace's main routing table."""
    routes = []
    with open(path) as table:
        next(table, None)
        for line in table:
            fields = line.split()
            dest, mask = (int(x, 16).to_bytes(4, "little") for x in (fields[1], fields[7]))
            prefix = bin(int.from_bytes(mask, "big")).count("1")
            routes.append(ipaddress.IPv4Network((ipaddress.IPv4Address(dest), prefix)))
    return routes


class HostNetwork:
    """The namespaces and control network of one run. ``create`` then ``configure``
    (once data interfaces exist), ``destroy`` always.

    ``adopted``: the instances' namespaces are made by someone else (a container engine,
    which also gives them their control network); :meth:`adopt` names each one when it
    exists, and the data interface inside is called ``data_ifname``."""

    def __init__(
        self, plan: AddressPlan, mtu: int, *, adopted: bool = False, data_ifname: str = DATA_IFNAME
    ) -> None:
        self.plan = plan
        self.mtu = mtu
        self.adopted = adopted
        self.data_ifname = data_ifname

    async def create(self) -> None:
        if self.adopted:
            return
        plan, sw = self.plan, self.plan.switch_netns
        prefix = plan.control_subnet.prefixlen
        root = [
            f"netns add {sw}",
            f"link add {BRIDGE} netns {sw} type bridge",
            f"link add {plan.gateway_link} type veth peer name {SWITCH_UPLINK} netns {sw}",
            f'link set {plan.gateway_link} alias "{plan.link_alias}"',
            f"addr add {plan.gateway}/{prefix} dev {plan.gateway_link}",
            f"link set {plan.gateway_link} up",
        ]
        root += [f"netns add {host.netns}" for host in plan.instances]
        root += [
            f"link add p{h.index} netns {sw} type veth peer name {CONTROL_IFNAME} netns {h.netns}"
            for h in plan.instances
        ]
        await run_ip(root)
        switch = [f"link set {BRIDGE} up", f"link set {SWITCH_UPLINK} master {BRIDGE} up"]
        switch += [f"link set p{h.index} master {BRIDGE} up" for h in plan.instances]
        switch += [f"link set p{h.index} type bridge_slave isolated on" for h in plan.instances]
        await run_ip(switch, sw)

    async def configure(self) -> None:
        """Address and route every instance, and the uplink (data interfaces must exist).
        Netlink from one worker thread that visits each namespace in turn (see rtnl)."""
        await asyncio.to_thread(self._configure_all)

    def _configure_all(self) -> None:
        plan = self.plan
        with Rtnl() as nl:  # the root namespace
            nl.set_link(plan.uplink_tun, up=True, mtu=self.mtu, alias=plan.link_alias)
            nl.add_address(plan.uplink_tun, self._data(plan.data_gateway))
        if self.adopted:
            return
        control = plan.control_subnet.prefixlen
        for host in plan.instances:
            with in_netns(host.netns), Rtnl() as nl:
                disable_ipv6()
                nl.add_address(CONTROL_IFNAME, IPv4Interface((host.control_ip, control)))
                nl.set_link(CONTROL_IFNAME, up=True)
            self._configure_data(host)

    def _configure_data(self, host: InstanceAddress) -> None:
        """Loopback and the data interface up, addressed, and the default route."""
        ifname = self.data_ifname
        with in_netns(host.netns), Rtnl() as nl:
            nl.set_link("lo", up=True)
            nl.set_link(ifname, up=True, mtu=self.mtu)
            nl.add_address(ifname, self._data(host.data_ip))
            nl.default_route(ifname)

    async def adopt(self, host: InstanceAddress, pid: int) -> None:
        """Name the namespace process ``pid`` lives in as ``host.netns`` (only a name:
        the namespace stays its owner's and goes with it)."""
        await run_ip([f"netns attach {host.netns} {pid}"])

    async def configure_adopted(self, host: InstanceAddress) -> None:
        """Address and route an adopted instance once its data interface exists."""
        await asyncio.to_thread(self._configure_data, host)

    def _data(self, ip: IPv4Address) -> IPv4Interface:
        return IPv4Interface((ip, self.plan.data_subnet.prefixlen))

    async def reconfigure(
        self,
        host: InstanceAddress,
        *,
        enable: bool,
        policy: RoutingPolicy | None,
        old_ip: IPv4Address,
        new_ip: IPv4Address,
    ) -> None:
        """Apply an instance's address, link state and routing policy. The default route
        says the routing policy: through the data interface (the switch sends it out through
        this host), or unreachable (``connect`` fails at once, as when Testground removes
        the route)."""
        ifname = self.data_ifname

        def apply() -> None:
            with in_netns(host.netns), Rtnl() as nl:
                if new_ip != old_ip:
                    # Delete first: removing a primary address also removes secondaries.
                    try:
                        nl.delete_address(ifname, self._data(old_ip))
                    except OSError as exc:
                        if not is_missing(exc):
                            raise
                    nl.add_address(ifname, self._data(new_ip))
                nl.set_link(ifname, up=enable)
                if enable:  # a link going down, or losing its last address, loses its routes
                    deny = policy is RoutingPolicy.DENY_ALL
                    nl.default_route(None if deny else ifname)

        await asyncio.to_thread(apply)

    async def destroy(self) -> None:
        """Remove everything; idempotent, and carries on past what is already gone."""
        plan = self.plan
        if self.adopted:
            # The namespaces outlive the run (their containers may be kept): take the data
            # interfaces out, or a kept container would hold a dead one with its route.
            await asyncio.to_thread(self._remove_adopted_links)
        lines = [] if self.adopted else [f"link del {plan.gateway_link}"]
        lines.append(f"netns del {plan.switch_netns}")
        lines += [f"netns del {host.netns}" for host in plan.instances]
        await run_ip([line for line in lines if _exists(line)], force=True)

    def _remove_adopted_links(self) -> None:
        for host in self.plan.instances:
            if not os.path.exists(f"/run/netns/{host.netns}"):
                continue
            try:
                with in_netns(host.netns), Rtnl() as nl:
                    nl.delete_link(self.data_ifname)
            except OSError:
                continue  # gone with its container, or never attached


def disable_ipv6() -> None:
    """No IPv6 in the calling thread's network namespace, as in a Docker container (Docker
    sets ``disable_ipv6`` on networks without IPv6, which Testground's are): interfaces get
    no link-local ``fe80::`` address a plan would find next to its IPv4 ones (Testground's
    ``verify`` pings every address of ``eth0`` and ``eth1`` and expects each to be a data
    or control address). ``all`` also clears the interfaces that exist already."""
    for scope in ("all", "default"):
        path = f"/proc/sys/net/ipv6/conf/{scope}/disable_ipv6"
        # a kernel without IPv6 has nothing to disable
        with contextlib.suppress(OSError), open(path, "w") as knob:
            knob.write("1")


def _exists(line: str) -> bool:
    """Skip lines about things already gone, so ``ip -force`` stays quiet and fast."""
    kind, _, name = line.split()
    if kind == "netns":
        return os.path.exists(f"/run/netns/{name}")
    return os.path.exists(f"/sys/class/net/{name}")
