"""Plain connectivity of a run network: data network, control path, loopback, uplink."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from choreograph.net.addresses import CONTROL_IFNAME, DATA_IFNAME
from choreograph.net.host import RunNetwork
from choreograph.sdk._network import interface_addresses
from choreograph.wire.network import NetworkConfig, RoutingPolicy

from ...timing import measure
from .conftest import in_ns, tcp, udp

pytestmark = pytest.mark.root


def test_udp_between_every_pair(pair: RunNetwork) -> None:
    sockets = [udp(pair, i, 7000) for i in range(3)]
    for s in sockets:
        s.settimeout(2)
    for i, sender in enumerate(sockets):
        for j, receiver in enumerate(sockets):
            if i != j:
                sender.sendto(f"{i}->{j}".encode(), (str(pair.address_of(j)), 7000))
                data, (ip, _) = receiver.recvfrom(64)
                assert data == f"{i}->{j}".encode() and ip == str(pair.address_of(i))


def test_tcp_stream_and_the_kernel_view(pair: RunNetwork) -> None:
    server = tcp(pair, 1)
    server.bind((str(pair.address_of(1)), 7001))
    server.listen()
    client = tcp(pair, 0)
    client.settimeout(2)
    client.connect((str(pair.address_of(1)), 7001))
    conn, _ = server.accept()
    payload = bytes(range(256)) * 4000  # 1 MB
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: conn.recv(65536), b"")))
    reader.start()
    client.sendall(payload)
    client.shutdown(socket.SHUT_WR)
    reader.join(10)
    assert b"".join(chunks) == payload
    host = pair.plan.instances[0]
    addresses = in_ns(host.netns, interface_addresses)
    assert addresses[DATA_IFNAME] == host.data_ip and addresses[CONTROL_IFNAME] == host.control_ip
    assert str(addresses["lo"]) == "127.0.0.1"  # loopback up
    for s in (server, client, conn):
        s.close()


def test_control_path_reaches_this_host_unshaped(pair: RunNetwork) -> None:
    server = socket.create_server(("0.0.0.0", 0))  # where the sync service would listen
    port = server.getsockname()[1]

    def connect() -> float:
        client = tcp(pair, 0)
        client.settimeout(2)
        started = time.perf_counter()
        try:
            client.connect((str(pair.plan.gateway), port))
        finally:
            client.close()
        return time.perf_counter() - started

    taken = measure(connect, lambda seconds: seconds < 0.05)
    assert taken.value < 0.05, f"connected in {taken.value:.3f} s; {taken}"
    server.close()


async def test_control_path_ignores_shaping_and_deny_all(pair: RunNetwork) -> None:
    from datetime import timedelta

    from choreograph.wire.network import LinkShape

    await pair.apply(
        0,
        NetworkConfig(
            default=LinkShape(latency=timedelta(milliseconds=200)),
            routing_policy=RoutingPolicy.DENY_ALL,
        ),
    )
    test_control_path_reaches_this_host_unshaped(pair)


def outside_address() -> str | None:
    """An address of this host outside every run network (e.g. eth0's), if it has one."""
    for name, ip in interface_addresses().items():
        if name != "lo" and not name.startswith("ch") and not ip.is_loopback:
            return str(ip)
    return None


async def test_routing_policy_allow_all_then_deny_all(pair: RunNetwork) -> None:
    target = outside_address()
    if target is None:
        pytest.skip("this host has no address outside loopback")
    server = socket.create_server(("0.0.0.0", 0))
    port = server.getsockname()[1]

    def connect() -> float:
        client = tcp(pair, 0)
        client.settimeout(2)
        started = time.perf_counter()
        try:
            client.connect((target, port))
        finally:
            client.close()
        return time.perf_counter() - started

    connect()  # allow_all (the default): out through this host, answers come back
    await pair.apply(0, NetworkConfig(routing_policy=RoutingPolicy.DENY_ALL))

    def refused() -> tuple[OSError | None, float]:
        started = time.perf_counter()
        try:
            connect()
        except OSError as exc:
            return exc, time.perf_counter() - started
        return None, time.perf_counter() - started

    taken = measure(refused, lambda result: result[1] < 0.5)
    for error, _seconds in taken.values:
        assert isinstance(error, OSError) and not isinstance(error, TimeoutError), error
    assert taken.value[1] < 0.5, f"refused after {taken.value[1]:.3f} s; {taken}"
    await pair.apply(0, NetworkConfig(routing_policy=RoutingPolicy.ALLOW_ALL))
    connect()
    server.close()


def test_this_host_reaches_instances_on_the_data_network(pair: RunNetwork) -> None:
    receiver = udp(pair, 2, 7002)
    receiver.settimeout(2)
    with socket.socket(type=socket.SOCK_DGRAM) as sender:
        sender.sendto(b"from the host", (str(pair.address_of(2)), 7002))
    data, (ip, _) = receiver.recvfrom(64)
    assert data == b"from the host" and ip == str(pair.plan.data_gateway)
    receiver.close()
