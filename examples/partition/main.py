"""A network partition, then its healing.

The instances split in two halves, each half in its own /24 of the data network. Each
instance then drops everything it sends to the other half (a rule with `filter = drop`),
so the halves cannot reach each other while each half still works inside; every instance
checks that with UDP echoes. Then the plan heals the partition (no rules) and every
instance must reach every other.

Needs the `local:netns` runner (root): `choreo run single --plan examples/partition
--case partition -i 6`.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time

from choreograph.sdk import (
    BlockingSyncClient,
    FilterAction,
    InitContext,
    LinkRule,
    LinkShape,
    NetworkConfig,
    RunEnv,
    invoke_map,
)

PORT = 5000
PROBE_WINDOW_S = 1.0


def _echo(server: socket.socket) -> None:
    while True:
        try:
            data, peer = server.recvfrom(64)
        except OSError:  # closed: the test is over
            return
        server.sendto(data, peer)


def _reachable(peers: list[str]) -> set[str]:
    """The peers that answer a UDP echo within the probe window."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for ip in peers:
            probe.sendto(ip.encode(), (ip, PORT))
        answered: set[str] = set()
        deadline = time.monotonic() + PROBE_WINDOW_S
        while len(answered) < len(peers) and (left := deadline - time.monotonic()) > 0:
            probe.settimeout(left)
            try:
                _, (ip, _) = probe.recvfrom(64)
            except TimeoutError:
                break
            answered.add(ip)
        return answered


def partition(runenv: RunEnv, ctx: InitContext[BlockingSyncClient]) -> str | None:
    client, net, n = ctx.sync_client, ctx.net_client, runenv.test_instance_count
    subnet = ipaddress.ip_network(runenv.test_subnet)
    half = 1 if ctx.global_seq <= n // 2 else 2
    halves = {h: ipaddress.ip_network(f"{subnet.network_address + (h << 8)}/24") for h in (1, 2)}
    ip = halves[half].network_address + ctx.global_seq
    net.configure_network(
        NetworkConfig(
            ipv4=ipaddress.IPv4Interface(f"{ip}/{subnet.prefixlen}"), callback_state="addressed"
        ),
        timeout=60,
    )
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind((str(ip), PORT))
    threading.Thread(target=_echo, args=(server,), daemon=True).start()

    client.publish("hosts", {"ip": str(ip), "half": half})
    hosts = client.subscribe("hosts")
    everyone = [next(hosts) for _ in range(n)]
    hosts.close()
    mine = {h["ip"] for h in everyone if h["half"] == half and h["ip"] != str(ip)}
    theirs = {h["ip"] for h in everyone if h["half"] != half}
    runenv.record_message(f"I am {ip} in half {half}; {len(mine)} with me, {len(theirs)} across")

    split = LinkRule(halves[3 - half], LinkShape(filter=FilterAction.DROP))
    net.configure_network(NetworkConfig(rules=(split,), callback_state="split"), timeout=60)
    seen = _reachable(sorted(mine | theirs))
    client.signal_and_wait("probed-split", n, timeout=60)
    if seen != mine:
        return f"partitioned: reached {sorted(seen)}, expected exactly my half {sorted(mine)}"

    net.configure_network(NetworkConfig(callback_state="healed"), timeout=60)
    seen = _reachable(sorted(mine | theirs))
    client.signal_and_wait("probed-healed", n, timeout=60)
    server.close()
    if seen != mine | theirs:
        return f"healed: could not reach {sorted(mine | theirs - seen)}"
    runenv.record_message(f"partition held ({len(theirs)} unreachable) and healed")
    return None


if __name__ == "__main__":
    invoke_map({"partition": partition})
