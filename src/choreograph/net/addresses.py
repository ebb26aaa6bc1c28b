"""The address plan of one run on this host: subnets, addresses, names. Pure, no I/O.

Two networks per run. The **data network** (``TEST_SUBNET``) is what plans talk over and
what the sidecar shapes; ``.1`` is this host's end (Testground reserves ``X.Y.0.1`` for the
gateway), instances get ``.2`` upwards in run order, as Docker's IPAM hands them out under
Testground. The **control network** carries only sync-service traffic, never shaped:
``.1`` is this host's end, where the sync service is reached.

The data network defaults to a /16 from ``10.101.0.0``-``10.250.0.0``, the control network
to the smallest network that holds the run in ``192.18.0.0/16`` (RFC 2544's benchmarking
range, far from any data network), both overlapping no route this host has. A run's routes
make its subnets taken, so concurrent runs never share one.

Every name carries the run's *tag* (8 hex digits of a hash of the run id) so leftovers of
a dead run can be found and removed (see :mod:`choreograph.net.cleanup`).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from choreograph.errors import InputError

NETNS_PREFIX = "choreo-"
LINK_PREFIX = "ch"
LINK_ALIAS_PREFIX = "choreograph run "
TAG_LENGTH = 8
DATA_IFNAME = "eth1"
"""Testground's name for the data interface (its local:docker and Kubernetes runners): plans
look interfaces up by name (Testground's ``verify`` plan reads ``eth0`` and ``eth1``)."""
CONTROL_IFNAME = "eth0"
"""Testground's name for the control interface (the first network a container joins)."""
CANDIDATES = tuple(ipaddress.IPv4Network(f"10.{b}.0.0/16") for b in range(101, 251))
CONTROL_RANGE = ipaddress.IPv4Network("192.18.0.0/16")
"""Control networks: Testground's control subnet (in RFC 2544's benchmarking range, never
routed publicly). Plans rely on it: Testground's ``verify`` tells a control address by its
``192.18.`` prefix."""

_NETNS_RE = re.compile(rf"^{NETNS_PREFIX}([0-9a-f]{{{TAG_LENGTH}}})-(sw|\d+)$")
_LINK_RE = re.compile(rf"^{LINK_PREFIX}([0-9a-f]{{{TAG_LENGTH}}})[gu]$")
_HOST_UNSAFE = re.compile(r"[^a-z0-9-]+")


def run_tag(run_id: str) -> str:
    return hashlib.sha256(run_id.encode()).hexdigest()[:TAG_LENGTH]


def switch_netns(tag: str) -> str:
    return f"{NETNS_PREFIX}{tag}-sw"


def instance_netns(tag: str, index: int) -> str:
    return f"{NETNS_PREFIX}{tag}-{index}"


def gateway_link(tag: str) -> str:
    """Root-namespace end of the control network (a veth; 11 characters < IFNAMSIZ)."""
    return f"{LINK_PREFIX}{tag}g"


def uplink_tun(tag: str) -> str:
    """Root-namespace end of the data network (a TUN the switch reads and writes)."""
    return f"{LINK_PREFIX}{tag}u"


def tag_of_netns(name: str) -> str | None:
    match = _NETNS_RE.match(name)
    return match.group(1) if match else None


def tag_of_link(name: str) -> str | None:
    match = _LINK_RE.match(name)
    return match.group(1) if match else None


@dataclass(frozen=True)
class InstanceAddress:
    index: int
    hostname: str
    netns: str
    data_ip: ipaddress.IPv4Address
    control_ip: ipaddress.IPv4Address


@dataclass(frozen=True)
class AddressPlan:
    run_id: str
    tag: str
    data_subnet: ipaddress.IPv4Network
    control_subnet: ipaddress.IPv4Network
    instances: tuple[InstanceAddress, ...]

    @property
    def gateway(self) -> ipaddress.IPv4Address:
        """Where instances reach this host on the control network (the sync service)."""
        return self.control_subnet.network_address + 1

    @property
    def data_gateway(self) -> ipaddress.IPv4Address:
        """This host's address on the data network (the uplink)."""
        return self.data_subnet.network_address + 1

    @property
    def switch_netns(self) -> str:
        return switch_netns(self.tag)

    @property
    def gateway_link(self) -> str:
        return gateway_link(self.tag)

    @property
    def uplink_tun(self) -> str:
        return uplink_tun(self.tag)

    @property
    def link_alias(self) -> str:
        return f"{LINK_ALIAS_PREFIX}{self.run_id}"


def plan_to_json(plan: AddressPlan) -> dict[str, object]:
    """The plan as JSON (it crosses a process boundary in rootless mode)."""
    return {
        "run_id": plan.run_id,
        "data_subnet": str(plan.data_subnet),
        "control_subnet": str(plan.control_subnet),
        "hostnames": [host.hostname for host in plan.instances],
    }


def plan_from_json(data: dict[str, object]) -> AddressPlan:
    names = data["hostnames"]
    assert isinstance(names, list)
    return plan_addresses(
        str(data["run_id"]),
        [str(n) for n in names],
        [ipaddress.IPv4Network(str(data["control_subnet"]))],
        str(data["data_subnet"]),
        control=str(data["control_subnet"]),
    )


def plan_addresses(
    run_id: str,
    hostnames: Sequence[str],
    taken: Iterable[ipaddress.IPv4Network],
    subnet: str | None = None,
    *,
    control: str | None = None,
) -> AddressPlan:
    """The plan for ``len(hostnames)`` instances, avoiding every network in ``taken``.

    ``subnet`` (the run config's choice of data network) must not overlap ``taken``;
    ``control`` fixes the control network (a plan read back from JSON).
    """
    taken = [n for n in taken if n.prefixlen > 0]
    count = len(hostnames)
    if subnet:
        try:
            data = ipaddress.IPv4Network(subnet, strict=False)
        except ValueError as exc:
            raise InputError(f'[runners."local:netns"] subnet = {subnet!r}: {exc}') from None
        if clash := next((n for n in taken if n.overlaps(data)), None):
            raise InputError(
                f'[runners."local:netns"] subnet = {subnet!r} overlaps {clash}, '
                "a route this host already has; choose another private range"
            )
    else:
        data = _free(taken, count)
    if data.num_addresses < count + 3:
        raise InputError(f"data subnet {data} is too small for {count} instances")
    control_net = (
        ipaddress.IPv4Network(control) if control else _free_control([*taken, data], count)
    )
    tag = run_tag(run_id)
    instances = tuple(
        InstanceAddress(
            index=i,
            hostname=name,
            netns=instance_netns(tag, i),
            data_ip=data.network_address + 2 + i,
            control_ip=control_net.network_address + 2 + i,
        )
        for i, name in enumerate(hostnames)
    )
    return AddressPlan(run_id, tag, data, control_net, instances)


def _free(taken: Sequence[ipaddress.IPv4Network], count: int) -> ipaddress.IPv4Network:
    for candidate in CANDIDATES:
        if candidate.num_addresses >= count + 3 and not any(candidate.overlaps(n) for n in taken):
            return candidate
    raise InputError(
        "no free private /16 in 10.101.0.0-10.250.0.0 on this host: every one overlaps a "
        'route; set [runners."local:netns"] subnet = "<cidr>" to choose one'
    )


def _free_control(taken: Sequence[ipaddress.IPv4Network], count: int) -> ipaddress.IPv4Network:
    """The smallest free network for ``count`` instances in :data:`CONTROL_RANGE`, else a
    free /16 of the data candidates.

    Far from the data network on purpose: plans widen ``TEST_SUBNET`` to find their data
    address (Testground's network ping-pong sets a /12 on it, then takes the first
    interface whose address the widened subnet holds), so a control network next to the
    data network would be mistaken for it. Testground's own control network was in the
    same benchmarking range."""
    prefix = max(16, min(24, 32 - (count + 3 - 1).bit_length()))
    for candidate in CONTROL_RANGE.subnets(new_prefix=prefix):
        if not any(candidate.overlaps(n) for n in taken):
            return candidate
    return _free(taken, count)


def hostnames(groups: Sequence[tuple[str, int]]) -> list[str]:
    """Unique RFC 1123 host names, ``<group>-<index>``, for ``(group id, size)`` pairs."""
    names: list[str] = []
    seen: set[str] = set()
    for group, size in groups:
        base = _HOST_UNSAFE.sub("-", group.lower()).strip("-")[:40] or "group"
        for index in range(size):
            name = f"{base}-{index}"
            if name in seen:
                name = f"{base}-{index}-{len(names)}"
            seen.add(name)
            names.append(name)
    return names
