"""Per-destination rules, address changes, and configs replaced under a live connection.

Delays are checked as ``tests/timing.py`` says: lower bounds (never early) on every
measurement, upper bounds on one the host did not disturb.
"""

from __future__ import annotations

import errno
import ipaddress
import math
import socket
import time
from datetime import timedelta

import pytest

from choreograph.errors import InputError
from choreograph.net.addresses import DATA_IFNAME
from choreograph.net.host import RunNetwork
from choreograph.sdk._network import interface_addresses
from choreograph.wire.network import FilterAction, LinkRule, LinkShape, NetworkConfig

from ...timing import measure
from .conftest import in_ns, tcp, udp

pytestmark = pytest.mark.root
MS = 1e-3


def one_way(net: RunNetwork, src: int, dst: int, port: int = 7200) -> float | None:
    """Seconds for one datagram from ``src`` to ``dst``; None if it never arrives."""
    receiver = udp(net, dst, port)
    receiver.settimeout(0.3)
    sender = udp(net, src)
    try:
        started = time.perf_counter()
        sender.sendto(b"x", (str(net.address_of(dst)), port))
        receiver.recv(16)
        return time.perf_counter() - started
    except OSError:  # not sent (no route), or never arrived (timeout)
        return None
    finally:
        sender.close()
        receiver.close()


async def test_rules_shape_per_destination_subnet(pair: RunNetwork) -> None:
    to_one = ipaddress.ip_network(f"{pair.address_of(1)}/32")
    config = NetworkConfig(
        default=LinkShape(latency=timedelta(milliseconds=5)),
        rules=(LinkRule(to_one, LinkShape(latency=timedelta(milliseconds=40))),),
    )
    await pair.apply(0, config)

    def delays() -> tuple[float | None, ...]:
        # back: shaping is the sender's, so host 1 sends unshaped
        return one_way(pair, 0, 1), one_way(pair, 0, 2), one_way(pair, 1, 0)

    def on_time(taken: tuple[float | None, ...]) -> bool:
        to_1, to_2, back = (math.inf if t is None else t for t in taken)
        return to_1 < 43 * MS and to_2 < 8 * MS and back < 3 * MS

    taken = measure(delays, on_time)
    for to_1, to_2, back in taken.values:
        assert to_1 is not None and to_1 >= 40 * MS, (to_1, taken)
        assert to_2 is not None and to_2 >= 5 * MS, (to_2, taken)
        assert back is not None, taken
    assert on_time(taken.value), f"to h-1, to h-2, back (s): {taken.value}; {taken}"


async def test_a_rule_can_cut_one_destination_off(pair: RunNetwork) -> None:
    cut = LinkRule(
        ipaddress.ip_network(f"{pair.address_of(2)}/32"), LinkShape(filter=FilterAction.DROP)
    )
    await pair.apply(0, NetworkConfig(rules=(cut,)))
    assert one_way(pair, 0, 2) is None and one_way(pair, 0, 1) is not None
    await pair.apply(0, NetworkConfig())
    assert one_way(pair, 0, 2) is not None


async def test_ip_change_moves_the_host(pair: RunNetwork) -> None:
    old = pair.address_of(0)
    new = pair.plan.data_subnet.network_address + 0x0105  # x.y.1.5
    await pair.apply(0, NetworkConfig(ipv4=ipaddress.IPv4Interface(f"{new}/24")))
    assert pair.address_of(0) == new
    host = pair.plan.instances[0]
    assert in_ns(host.netns, interface_addresses)[DATA_IFNAME] == new
    receiver = udp(pair, 0, 7201)  # bound to the new address
    receiver.settimeout(1)
    sender = udp(pair, 1)
    sender.sendto(b"to new", (str(new), 7201))
    assert receiver.recv(16) == b"to new"
    sender.sendto(b"to old", (str(old), 7201))  # nobody holds it now
    with pytest.raises(TimeoutError):
        receiver.settimeout(0.3)
        receiver.recv(16)
    # Traffic from the new address comes back, and routes survived the change.
    assert one_way(pair, 0, 1) is not None
    for s in (receiver, sender):
        s.close()


async def test_ip_change_is_checked(pair: RunNetwork) -> None:
    taken = pair.address_of(1)
    with pytest.raises(InputError, match="already h-1's address"):
        await pair.apply(0, NetworkConfig(ipv4=ipaddress.IPv4Interface(f"{taken}/16")))
    with pytest.raises(InputError, match="not usable"):
        await pair.apply(0, NetworkConfig(ipv4=ipaddress.IPv4Interface("192.0.2.77/24")))
    with pytest.raises(InputError, match="reserved"):
        await pair.apply(
            0, NetworkConfig(ipv4=ipaddress.IPv4Interface(f"{pair.plan.data_gateway}/16"))
        )


async def test_config_changes_mid_connection_without_dropping_it(pair: RunNetwork) -> None:
    server = tcp(pair, 1)
    server.bind((str(pair.address_of(1)), 7202))
    server.listen()
    client = tcp(pair, 0)
    client.settimeout(5)
    client.connect((str(pair.address_of(1)), 7202))
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn, _ = server.accept()
    conn.settimeout(5)
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def rtt() -> float:
        started = time.perf_counter()
        client.sendall(b"p")
        conn.recv(1)
        conn.sendall(b"q")
        client.recv(1)
        return time.perf_counter() - started

    both = [0, 1]
    for latency, low, high in [(50, 100, 106), (5, 10, 14), (0, 0, 3), (25, 50, 55)]:
        shape = LinkShape(latency=timedelta(milliseconds=latency), bandwidth=10_000_000)
        for index in both:
            await pair.apply(index, NetworkConfig(default=shape))
        bound = high * MS
        taken = measure(lambda: sorted(rtt() for _ in range(5)), lambda s, b=bound: s[2] < b)
        for samples in taken.values:  # never early: each RTT crosses both shaped links
            assert samples[0] >= low * MS, (latency, samples, taken)
        assert taken.value[2] < bound, (latency, taken.value, taken)
    stats = await pair.statistics()
    assert stats["ports"]["0"]["dropped"] <= 1  # at most one stray IPv6 solicitation
    for s in (client, conn, server):
        s.close()


async def test_disable_then_enable(pair: RunNetwork) -> None:
    await pair.apply(0, NetworkConfig(enable=False))
    assert one_way(pair, 0, 1) is None and one_way(pair, 1, 0) is None
    host = pair.plan.instances[0]
    client = tcp(pair, 0)
    with pytest.raises(OSError) as failure:  # the interface is down: no route at all
        client.connect((str(pair.address_of(1)), 7203))
    assert failure.value.errno == errno.ENETUNREACH
    client.close()
    await pair.apply(0, NetworkConfig(enable=True))
    assert one_way(pair, 0, 1) is not None and one_way(pair, 1, 0) is not None
    assert in_ns(host.netns, interface_addresses)[DATA_IFNAME] == host.data_ip
