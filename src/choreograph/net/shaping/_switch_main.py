"""The switch process: ``python -m choreograph.net.shaping._switch_main FD SUBNET --run ID
--tag TAG``. The run id and tag in its command line are how ``choreo healthcheck`` finds
a switch whose runner died (it normally dies with it: PDEATHSIG).

Control wire (one SOCK_SEQPACKET socket, JSON, one request per message, answered with
``{"id", "ok": true, …}`` or ``{"id", "error"}``): ``attach {ports: [{index, netns,
ifname, ip}]}`` creates each port's TUN inside its namespace; ``uplink {ifname}`` creates
this host's port in the switch's own namespace; ``configure {index, config}`` replaces a
port's policy and link shapes; ``address {index, ip}`` moves a port to a new address;
``stats``. The switch exits when the socket closes.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import socket
import sys
from typing import Any

from choreograph.net._enter import die_with_parent, in_netns
from choreograph.net.shaping.switch import UPLINK, Switch
from choreograph.net.shaping.tun import open_tun, tight_timer_slack
from choreograph.wire.network import NetworkConfig

SWITCH_NICE = -10
"""Delays are only as exact as the switch's wake-ups: on a busy host, let it run first."""
SWITCH_RT_PRIORITY = 1
"""The lowest real-time priority: above every ordinary process, below the kernel's own
real-time threads. netem releases packets from a kernel timer; a switch at an ordinary
priority on a loaded host wakes up to 10-20 ms late (measured with 2 CPUs at a load of 8),
which closes the gaps between packets sent milliseconds apart, so a receiver reads them
in one ``read`` (Testground's example-js ``pingpong`` then reads ``21`` for ``2``). The
kernel's real-time throttling (95% of each second by default) still bounds a switch
that never sleeps."""


def _prioritise() -> None:
    """Real-time scheduling where allowed (root), else the highest niceness allowed."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(SWITCH_RT_PRIORITY))
    except (OSError, AttributeError):
        with contextlib.suppress(OSError):  # timing matters more here than in the instances
            os.setpriority(os.PRIO_PROCESS, 0, SWITCH_NICE)


def _handle(switch: Switch, request: dict[str, Any]) -> dict[str, Any]:
    op = request["op"]
    if op == "attach":
        for port in request["ports"]:
            with in_netns(port["netns"]):  # removed with its namespace (see open_tun)
                fd = open_tun(port["ifname"], persist=True)
            switch.add_port(int(port["index"]), fd, ipaddress.IPv4Address(port["ip"]))
    elif op == "uplink":
        switch.add_port(UPLINK, open_tun(request["ifname"]), None)
    elif op == "configure":
        switch.configure(int(request["index"]), NetworkConfig.from_json(request["config"]))
    elif op == "address":
        switch.set_address(int(request["index"]), ipaddress.IPv4Address(request["ip"]))
    elif op == "stats":
        return switch.statistics()
    else:
        raise ValueError(f"unknown operation {op!r}")
    return {}


def main() -> None:
    parser = argparse.ArgumentParser(prog="choreograph-switch")
    parser.add_argument("fd", type=int)
    parser.add_argument("subnet", type=ipaddress.IPv4Network)
    parser.add_argument("--run", required=True)
    parser.add_argument("--tag", required=True)
    args = parser.parse_args()
    die_with_parent()
    tight_timer_slack()
    _prioritise()
    control = socket.socket(fileno=args.fd)
    control.setblocking(True)

    def on_control() -> bool:
        data = control.recv(1 << 20)
        if not data:
            return False
        request = json.loads(data)
        try:
            reply = {"id": request["id"], "ok": True, **_handle(switch, request)}
        except Exception as exc:  # reported to the runner, which raises it
            reply = {"id": request["id"], "error": f"{type(exc).__name__}: {exc}"}
        control.sendall(json.dumps(reply).encode())
        return True

    switch = Switch(args.subnet, on_control, control.fileno())
    try:
        switch.run()
    except KeyboardInterrupt:
        pass
    finally:
        switch.close()
    sys.exit(0)


if __name__ == "__main__":
    main()
