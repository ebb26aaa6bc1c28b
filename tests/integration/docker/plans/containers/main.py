"""Test plan for local:docker: what a container instance is, and what it can reach.

- ``whoami``: records its hostname, interfaces, data address and environment in
  ``whoami.json`` (in TEST_OUTPUTS_PATH), holding ``hold_mib`` MiB (default 48) for 3 s
  so the run's resource samples can see it.
- ``rules``: instance 1 shapes per destination (40 ms to instance 2, DROP to instance 3),
  times TCP connects to both, lifts the rules, then changes its address; instances 2 and 3
  answer each connection with the source address they saw.
- ``isolation``: connects to the other instance on its control address (eth0), which
  must fail, and on its data address (eth1), which must work; ``fetch`` first GETs
  ``http://<first additional host>:5678/``, then does the same.
- ``sleep``: says "sleeping" and sleeps for 5 minutes.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import threading
import time
import urllib.request
from datetime import timedelta

from choreograph.sdk import (
    FilterAction,
    InitContext,
    LinkRule,
    LinkShape,
    NetworkConfig,
    RunEnv,
    invoke_map,
)
from choreograph.sdk._network import interface_addresses

PORT = 7000


def whoami(runenv: RunEnv, ctx: InitContext) -> None:
    hold = bytearray(runenv.int_param("hold_mib") << 20)
    for i in range(0, len(hold), 4096):  # touch every page: resident, not just reserved
        hold[i] = 1
    record = {
        "hostname": socket.gethostname(),
        "env_hostname": os.environ.get("HOSTNAME"),
        "subnet": runenv.test_subnet,
        "sidecar": runenv.test_sidecar,
        "data_ip": str(ctx.net_client.get_data_network_ip()),
        "interfaces": {k: str(v) for k, v in interface_addresses().items()},
        "outputs_path": str(runenv.outputs_path),
        "sync_host": os.environ["SYNC_SERVICE_HOST"],
    }
    (runenv.outputs_path / "whoami.json").write_text(json.dumps(record))
    time.sleep(3)
    ctx.sync_client.signal_and_wait("recorded", runenv.test_instance_count, timeout=60)
    del hold


def _answer_with_peer_address(listener: socket.socket) -> None:
    while True:
        try:
            conn, (peer, _) = listener.accept()
        except OSError:
            return
        with conn:
            conn.sendall(peer.encode())


def _connect(ip: str, timeout: float) -> tuple[float | None, str]:
    """Seconds to connect to ``ip`` and the source address the server saw (None, the
    error) when it failed."""
    started = time.perf_counter()
    try:
        with socket.create_connection((ip, PORT), timeout=timeout) as conn:
            taken = time.perf_counter() - started
            conn.settimeout(timeout)
            return taken, conn.recv(64).decode()
    except OSError as exc:
        return None, repr(exc)


def rules(runenv: RunEnv, ctx: InitContext) -> str | None:
    client, net = ctx.sync_client, ctx.net_client
    me = str(net.get_data_network_ip())
    client.publish("addresses", {"seq": ctx.global_seq, "ip": me})
    sub = client.subscribe("addresses")
    ips = {}
    for item in sub:
        ips[item["seq"]] = item["ip"]
        if len(ips) == runenv.test_instance_count:
            break
    sub.close()
    if ctx.global_seq != 1:
        listener = socket.create_server((me, PORT))
        threading.Thread(target=_answer_with_peer_address, args=(listener,), daemon=True).start()
        client.signal_and_wait("listening", runenv.test_instance_count, timeout=60)
        client.signal_and_wait("done", runenv.test_instance_count, timeout=120)
        listener.close()
        return None

    client.signal_and_wait("listening", runenv.test_instance_count, timeout=60)
    slow, cut = ips[2], ips[3]
    net.configure_network(
        NetworkConfig(
            rules=(
                LinkRule(
                    ipaddress.ip_network(f"{slow}/32"),
                    LinkShape(latency=timedelta(milliseconds=40)),
                ),
                LinkRule(ipaddress.ip_network(f"{cut}/32"), LinkShape(filter=FilterAction.DROP)),
            ),
            callback_state="rules-on",
            callback_target=1,
        ),
        timeout=60,
    )
    shaped = [_connect(slow, 5)[0] for _ in range(3)]
    blocked = _connect(cut, 1)
    net.configure_network(NetworkConfig(callback_state="rules-off", callback_target=1), timeout=60)
    unshaped = [_connect(slow, 5)[0] for _ in range(5)]
    unblocked = _connect(cut, 5)

    subnet = ipaddress.ip_network(runenv.test_subnet)
    new_ip = subnet.network_address + 0x01C8  # x.y.1.200
    net.configure_network(
        NetworkConfig(
            ipv4=ipaddress.IPv4Interface(f"{new_ip}/{subnet.prefixlen}"),
            callback_state="ip-changed",
            callback_target=1,
        ),
        timeout=60,
    )
    seen = _connect(slow, 5)
    record = {
        "shaped": shaped,
        "blocked": blocked[0],
        "unshaped": unshaped,
        "unblocked": unblocked[0],
        "new_ip": str(new_ip),
        "client_ip": str(net.get_data_network_ip()),
        "eth1": str(interface_addresses().get("eth1")),
        "seen_by_peer": seen[1],
    }
    runenv.record_message("rules " + json.dumps(record))
    client.signal_and_wait("done", runenv.test_instance_count, timeout=120)
    return None


def fetch(runenv: RunEnv, ctx: InitContext) -> None:
    host = os.environ["ADDITIONAL_HOSTS"].split(",")[0]
    with urllib.request.urlopen(f"http://{host}:5678/", timeout=20) as answer:
        runenv.record_message("fetched " + json.dumps(answer.read().decode().strip()))
    isolation(runenv, ctx)


def isolation(runenv: RunEnv, ctx: InitContext) -> None:
    client = ctx.sync_client
    addresses = interface_addresses()
    mine = {"seq": ctx.global_seq, "eth0": str(addresses["eth0"]), "eth1": str(addresses["eth1"])}
    listeners = [socket.create_server((mine[name], PORT)) for name in ("eth0", "eth1")]
    for listener in listeners:
        threading.Thread(target=_answer_with_peer_address, args=(listener,), daemon=True).start()
    client.publish("addresses", mine)
    sub = client.subscribe("addresses")
    other = next(item for item in sub if item["seq"] != ctx.global_seq)
    sub.close()
    client.signal_and_wait("listening", runenv.test_instance_count, timeout=60)
    control = _connect(other["eth0"], 3)
    data = _connect(other["eth1"], 10)
    record = {"control": control, "data": data, "mine": mine, "other": other}
    runenv.record_message("isolation " + json.dumps(record))
    client.signal_and_wait("done", runenv.test_instance_count, timeout=60)
    for listener in listeners:
        listener.close()


def sleep(runenv: RunEnv, ctx: InitContext) -> None:
    runenv.record_message("sleeping")
    time.sleep(300)


if __name__ == "__main__":
    invoke_map(
        {"whoami": whoami, "rules": rules, "fetch": fetch, "isolation": isolation, "sleep": sleep}
    )
