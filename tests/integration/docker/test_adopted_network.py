"""A run network adopting containers' namespaces, as ``local:docker`` does: the tests of
tests/integration/net that name the data interface ``data0``, with ``eth1``; the rest
run there on both kinds of ``pair`` (see its conftest)."""

from __future__ import annotations

import errno
import ipaddress
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.integration.net.conftest import DOCKER_DATA_IFNAME, _remove_link, in_ns, tcp
from tests.integration.net.test_reconfigure import one_way

from choreograph.net.host import RunNetwork
from choreograph.sdk._network import interface_addresses
from choreograph.wire.network import NetworkConfig

from .conftest import NEEDS

pytestmark = [*NEEDS, pytest.mark.timeout(300)]
on_containers = pytest.mark.parametrize("pair", ["docker"], indirect=True)


def links_of(pid: int) -> set[str]:
    lines = Path(f"/proc/{pid}/net/dev").read_text().splitlines()[2:]
    return {line.partition(":")[0].strip() for line in lines}


@on_containers
def test_the_kernel_view_inside_a_container(pair: RunNetwork) -> None:
    for host in pair.plan.instances:
        addresses = in_ns(host.netns, interface_addresses)
        assert addresses == {"lo": ipaddress.IPv4Address("127.0.0.1"), "eth1": host.data_ip}


@on_containers
async def test_ip_change_moves_the_container(pair: RunNetwork) -> None:
    old = pair.address_of(0)
    new = pair.plan.data_subnet.network_address + 0x0105  # x.y.1.5
    await pair.apply(0, NetworkConfig(ipv4=ipaddress.IPv4Interface(f"{new}/24")))
    assert pair.address_of(0) == new
    assert in_ns(pair.plan.instances[0].netns, interface_addresses)["eth1"] == new
    assert one_way(pair, 1, 0) is not None  # to the new address
    assert one_way(pair, 0, 1) is not None  # from it: routes survived the change
    assert old != new


@on_containers
async def test_disable_then_enable_in_a_container(pair: RunNetwork) -> None:
    await pair.apply(0, NetworkConfig(enable=False))
    assert one_way(pair, 0, 1) is None and one_way(pair, 1, 0) is None
    client = tcp(pair, 0)
    with pytest.raises(OSError) as failure:
        client.connect((str(pair.address_of(1)), 7203))
    assert failure.value.errno == errno.ENETUNREACH
    client.close()
    await pair.apply(0, NetworkConfig(enable=True))
    assert one_way(pair, 0, 1) is not None and one_way(pair, 1, 0) is not None
    host = pair.plan.instances[0]
    assert in_ns(host.netns, interface_addresses)["eth1"] == host.data_ip


async def test_closing_takes_the_data_interface_out_of_an_adopted_namespace(
    open_network: Callable[..., RunNetwork], sleeping_containers: list[int]
) -> None:
    try:
        async with open_network(3, adopted=True, data_ifname=DOCKER_DATA_IFNAME) as net:
            for index, pid in enumerate(sleeping_containers):
                await net.adopt(index, pid)
            assert all(DOCKER_DATA_IFNAME in links_of(pid) for pid in sleeping_containers)
        left = [pid for pid in sleeping_containers if DOCKER_DATA_IFNAME in links_of(pid)]
        assert not left, f"{DOCKER_DATA_IFNAME} left in the namespaces of pids {left}"
    finally:
        for pid in sleeping_containers:
            _remove_link(pid, DOCKER_DATA_IFNAME)
