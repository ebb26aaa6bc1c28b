"""The address plan: free private subnets, sequential addresses, tagged names."""

import ipaddress

import pytest

from choreograph.errors import InputError
from choreograph.net.addresses import (
    CONTROL_IFNAME,
    DATA_IFNAME,
    gateway_link,
    hostnames,
    plan_addresses,
    run_tag,
    tag_of_link,
    tag_of_netns,
    uplink_tun,
)

HOST = [ipaddress.IPv4Network("0.0.0.0/0"), ipaddress.IPv4Network("10.101.0.0/16")]


def test_skips_subnets_the_host_routes_and_keeps_data_and_control_apart() -> None:
    plan = plan_addresses("run-1", ["a-0", "a-1"], HOST)
    assert plan.data_subnet == ipaddress.IPv4Network("10.102.0.0/16")
    assert plan.control_subnet == ipaddress.IPv4Network("192.18.0.0/24")
    assert [str(h.data_ip) for h in plan.instances] == ["10.102.0.2", "10.102.0.3"]
    assert str(plan.data_gateway) == "10.102.0.1" and str(plan.gateway) == "192.18.0.1"


def test_the_control_network_is_never_inside_a_widened_data_subnet() -> None:
    """Testground's ping-pong widens TEST_SUBNET to a /12 (even a /8 stays clear) and takes
    the first interface inside it as its data address."""
    plan = plan_addresses("r", [f"h-{i}" for i in range(300)], HOST)
    widened = plan.data_subnet.supernet(new_prefix=8)
    assert not widened.overlaps(plan.control_subnet)
    assert plan.control_subnet.num_addresses >= 300 + 3
    busy = [*HOST, ipaddress.IPv4Network("192.18.0.0/23")]
    assert plan_addresses("r", ["a"], busy).control_subnet == ipaddress.IPv4Network("192.18.2.0/24")


def test_testgrounds_interface_names_and_control_subnet() -> None:
    """Plans look interfaces up by Testground's names and tell a control address by
    Testground's control subnet (its ``verify`` plan: ``eth0``/``eth1``, ``192.18.``)."""
    assert (CONTROL_IFNAME, DATA_IFNAME) == ("eth0", "eth1")
    testground_control = ipaddress.IPv4Network("192.18.0.0/16")
    busy = [*HOST, ipaddress.IPv4Network("192.18.0.0/17")]
    for taken in (HOST, busy):
        plan = plan_addresses("r", [f"h-{i}" for i in range(40)], taken)
        assert plan.control_subnet.subnet_of(testground_control)


def test_a_wide_host_route_pushes_past_its_range() -> None:
    taken = [ipaddress.IPv4Network("10.96.0.0/11")]  # 10.96-10.127
    assert plan_addresses("r", ["a"], taken).data_subnet == ipaddress.IPv4Network("10.128.0.0/16")


def test_requested_subnet_is_used_or_refused_with_the_clash() -> None:
    plan = plan_addresses("r", ["a"], HOST, subnet="192.168.77.0/24")
    assert plan.data_subnet == ipaddress.IPv4Network("192.168.77.0/24")
    with pytest.raises(InputError, match=r"overlaps 10\.101\.0\.0/16"):
        plan_addresses("r", ["a"], HOST, subnet="10.101.5.0/24")
    with pytest.raises(InputError, match="too small"):
        plan_addresses("r", ["a"] * 6, HOST, subnet="192.168.77.0/29")


def test_names_carry_the_tag_and_fit_interface_names() -> None:
    tag = run_tag("20261123-203552-203bce61a")
    plan = plan_addresses("20261123-203552-203bce61a", ["a-0"], HOST)
    assert plan.tag == tag and len(tag) == 8
    assert tag_of_netns(plan.instances[0].netns) == tag
    assert tag_of_netns(plan.switch_netns) == tag
    assert tag_of_link(gateway_link(tag)) == tag and tag_of_link(uplink_tun(tag)) == tag
    assert len(gateway_link(tag)) < 16 and len(uplink_tun(tag)) < 16
    assert tag_of_netns("choreo-xyz-1") is None and tag_of_link("eth0") is None


def test_hostnames_are_unique_and_valid() -> None:
    names = hostnames([("Peers_A", 2), ("peers-a", 1), ("", 1)])
    assert names == ["peers-a-0", "peers-a-1", "peers-a-0-2", "group-0"]
