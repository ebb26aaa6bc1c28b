"""Testground's classic network ping-pong, on a shaped network.

Both instances ask for 100 ms of latency and 1 Mibit/s with `deny_all`, take a new address
from their `signal_and_wait` sequence number, meet over TCP, and time one ping-pong: a
round trip over two 100 ms links must take 200-250 ms. Then the latency drops to 10 ms
on the fly, over the same connection, and the round trip must take 20-35 ms.

Needs the `local:netns` runner (root): `choreo run single --plan examples/network-pingpong
--case pingpong`.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from datetime import timedelta

from choreograph.sdk import (
    BlockingNetworkClient,
    BlockingSyncClient,
    InitContext,
    LinkShape,
    NetworkConfig,
    RoutingPolicy,
    RunEnv,
    invoke_map,
)

PORT = 1234


def _ping_pong(
    runenv: RunEnv, client: BlockingSyncClient, conn: socket.socket, seq: int, name: str
) -> float:
    """Both sides write their id, echo the other's, and read their own back: one round
    trip. Returns its duration in seconds."""
    conn.sendall(b"\0")  # wait until both sides are ready
    conn.recv(1)
    started = time.perf_counter()
    conn.sendall(bytes([seq]))
    theirs = conn.recv(1)
    conn.sendall(theirs)
    mine = conn.recv(1)
    rtt = time.perf_counter() - started
    if mine != bytes([seq]):
        raise AssertionError(f"read {mine!r}, expected my id {seq}")
    client.signal_and_wait(f"ping-pong-{name}", runenv.test_instance_count)
    return rtt


def pingpong(runenv: RunEnv, ctx: InitContext[BlockingSyncClient]) -> str | None:
    client: BlockingSyncClient = ctx.sync_client
    net: BlockingNetworkClient = ctx.net_client
    config = NetworkConfig(
        default=LinkShape(latency=timedelta(milliseconds=100), bandwidth=1 << 20),
        routing_policy=RoutingPolicy.DENY_ALL,
        callback_state="network-configured",
    )
    net.configure_network(config, timeout=60)

    seq = client.signal_and_wait("ip-allocation", runenv.test_instance_count)
    subnet = ipaddress.ip_network(runenv.test_subnet)
    ip = subnet.network_address + (((seq >> 8) + 1) << 8) + (seq & 0xFF)
    runenv.record_message(f"I am {seq}; taking address {ip}")

    listener = socket.create_server(("0.0.0.0", PORT)) if seq == 1 else None
    config = NetworkConfig(
        default=config.default,
        routing_policy=RoutingPolicy.DENY_ALL,
        ipv4=ipaddress.IPv4Interface(f"{ip}/{subnet.prefixlen}"),
        callback_state="ip-changed",
    )
    net.configure_network(config, timeout=60)
    my_ip = net.get_data_network_ip()
    if my_ip != ip:
        return f"my data network address is {my_ip}, expected {ip}"

    client.publish("peers", {"seq": seq, "ip": str(my_ip)})
    peers = client.subscribe("peers")
    peer = next(p for p in peers if p["seq"] != seq)
    peers.close()

    if listener is not None:
        listener.settimeout(30)
        conn, _ = listener.accept()
        listener.close()
    else:
        conn = socket.create_connection((peer["ip"], PORT), timeout=30)
    with conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        rtt = _ping_pong(runenv, client, conn, seq, "200")
        runenv.record_message(f"ping RTT was {rtt * 1e3:.1f} ms [200 ms, 250 ms]")
        if not 0.200 <= rtt <= 0.250:
            return f"expected an RTT between 200 ms and 250 ms, got {rtt * 1e3:.1f} ms"

        config = NetworkConfig(
            default=LinkShape(latency=timedelta(milliseconds=10), bandwidth=1 << 20),
            routing_policy=RoutingPolicy.DENY_ALL,
            callback_state="latency-reduced",
        )
        net.configure_network(config, timeout=60)
        rtt = _ping_pong(runenv, client, conn, seq, "10")
        runenv.record_message(f"ping RTT was {rtt * 1e3:.1f} ms [20 ms, 35 ms]")
        if not 0.020 <= rtt <= 0.035:
            return f"expected an RTT between 20 ms and 35 ms, got {rtt * 1e3:.1f} ms"
    return None


if __name__ == "__main__":
    invoke_map({"pingpong": pingpong})
