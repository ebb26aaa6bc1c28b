"""The userspace switch: reads every instance's TUN, applies the sender's policy and link
model, and writes each packet to its destination's TUN when it is due.

One thread, one ``epoll`` set: the TUNs, the control socket and a timerfd armed for the
earliest pending delivery (a heap of deadlines). It runs in its own process (see
:mod:`~choreograph.net.shaping.userspace` for why). The per-packet path is kept flat on
purpose — a dictionary lookup for the route, one for the destination — because in Python
every attribute access counts at 100,000 packets/s.
"""

from __future__ import annotations

import contextlib
import heapq
import ipaddress
import os
import random
import select
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from choreograph.net.policy import DEFAULT_LINK, Action, EgressPolicy
from choreograph.net.shaping.link import LinkModel
from choreograph.net.shaping.packets import icmp_prohibited
from choreograph.net.shaping.tun import Timer
from choreograph.wire.network import NetworkConfig

BURST = 64
"""Packets read from one TUN per wake-up, so one busy sender cannot starve the others."""
MAX_PACKET = 65536
UPLINK = -1
DROP = -1
REJECT = -2
_ICMP_ERRORS = frozenset({3, 4, 5, 11, 12})


@dataclass(eq=False)
class Port:
    index: int
    fd: int
    ip: bytes
    policy: EgressPolicy
    links: dict[int, LinkModel] = field(default_factory=dict)
    routes: dict[bytes, tuple[LinkModel, int]] = field(default_factory=dict)
    """Per destination: the link and the file descriptor to write to (or :data:`DROP`,
    :data:`REJECT`), until the policy or the address table changes."""
    counters: dict[str, int] = field(
        default_factory=lambda: {"rx": 0, "tx": 0, "dropped": 0, "rejected": 0}
    )


class Switch:
    """Owns the ports; :meth:`run` forwards until the control socket closes."""

    def __init__(
        self,
        subnet: ipaddress.IPv4Network,
        control: Callable[[], bool],
        control_fd: int,
        rng: random.Random | None = None,
    ) -> None:
        self.subnet = subnet
        self.ports: dict[int, Port] = {}
        self.table: dict[bytes, Port] = {}
        self.heap: list[tuple[int, int, int, bytes]] = []
        self.rng = rng or random.Random()
        self._by_fd: dict[int, Port] = {}
        self._control = control
        self._control_fd = control_fd
        self._epoll = select.epoll()
        self._timer = Timer()
        self._seq = 0
        self._epoll.register(control_fd, select.EPOLLIN)
        self._epoll.register(self._timer.fd, select.EPOLLIN)

    # --- control ---------------------------------------------------------------

    def add_port(self, index: int, fd: int, ip: ipaddress.IPv4Address | None) -> None:
        policy = EgressPolicy(self.subnet)
        port = Port(index, fd, ip.packed if ip else b"", policy)
        self._set_links(port, policy)
        self.ports[index] = port
        self._by_fd[fd] = port
        if port.ip:
            self.table[port.ip] = port
        self._forget_routes()
        self._epoll.register(fd, select.EPOLLIN)

    def configure(self, index: int, config: NetworkConfig) -> None:
        port = self.ports[index]
        self._set_links(port, EgressPolicy.from_config(self.subnet, config, port.policy))

    def set_address(self, index: int, ip: ipaddress.IPv4Address) -> None:
        port = self.ports[index]
        if self.table.get(port.ip) is port:
            del self.table[port.ip]
        port.ip = ip.packed
        self.table[port.ip] = port
        self._forget_routes()

    def _forget_routes(self) -> None:
        for port in self.ports.values():
            port.routes.clear()

    def _set_links(self, port: Port, policy: EgressPolicy) -> None:
        old = port.links
        port.policy = policy
        port.links = {k: LinkModel(s, self.rng, old.get(k)) for k, s in policy.shapes.items()}
        port.routes.clear()

    def statistics(self) -> dict[str, Any]:
        ports = {}
        for port in self.ports.values():
            links = {str(k): vars(link.stats) for k, link in port.links.items()}
            ports[str(port.index)] = {**port.counters, "links": links}
        return {"ports": ports, "pending": len(self.heap)}

    # --- data path ---------------------------------------------------------------

    def run(self) -> None:
        poll, timer, by_fd = self._epoll.poll, self._timer, self._by_fd
        while True:
            for fd, _ in poll():
                port = by_fd.get(fd)
                if port is not None:
                    self._drain(port)
                elif fd == timer.fd:
                    timer.clear()
                elif fd == self._control_fd and not self._control():
                    return
            self._release()

    def _drain(self, port: Port) -> None:
        read, write, fd, routes = os.read, os.write, port.fd, port.routes
        received = sent = dropped = 0
        try:
            for _ in range(BURST):
                try:
                    packet = read(fd, MAX_PACKET)
                except BlockingIOError:
                    return
                received += 1
                if packet[0] >> 4 != 4 or len(packet) < 20:  # IPv4 only
                    dropped += 1
                    continue
                dst = packet[16:20]
                route = routes.get(dst)
                if route is None:
                    route = routes[dst] = self._route(port, dst)
                link, target = route
                if target < 0:
                    dropped += 1
                    if target == REJECT:
                        self._reject(port, packet)
                elif link.transparent:
                    try:
                        write(target, packet)
                        sent += 1
                    except OSError:
                        dropped += 1
                else:
                    for at, copy in link.transmit(packet, time.monotonic_ns()):
                        self._seq += 1
                        heapq.heappush(self.heap, (at, self._seq, target, copy))
        except OSError:  # the device went away with its namespace
            self._epoll.unregister(fd)
            del self._by_fd[fd]
        finally:
            counters = port.counters
            counters["rx"] += received
            counters["tx"] += sent
            counters["dropped"] += dropped

    def _route(self, port: Port, dst: bytes) -> tuple[LinkModel, int]:
        address = ipaddress.IPv4Address(dst)
        if port.index == UPLINK:  # from outside: into the data network, unshaped, or nowhere
            action = Action.DELIVER if address in self.subnet else Action.DROP
            link = port.links[DEFAULT_LINK]
        else:
            key = port.policy.link_for(int(address))
            link, action = port.links[key], port.policy.decide(int(address), key)
        if action is Action.DELIVER:
            target = self.table.get(dst)
            return link, target.fd if target else DROP
        if action is Action.OUTSIDE:
            uplink = self.ports.get(UPLINK)
            return link, uplink.fd if uplink else DROP
        return link, REJECT if action is Action.REJECT else DROP

    def _reject(self, port: Port, packet: bytes) -> None:
        port.counters["rejected"] += 1
        header = (packet[0] & 0x0F) * 4
        if packet[9] == 1 and len(packet) > header and packet[header] in _ICMP_ERRORS:
            return  # never answer an error with an error
        with contextlib.suppress(OSError):
            os.write(port.fd, icmp_prohibited(packet))

    def _release(self) -> None:
        heap, timer = self.heap, self._timer
        if not heap:
            return
        now = time.monotonic_ns()
        while heap and heap[0][0] <= now:
            _, _, fd, packet = heapq.heappop(heap)
            try:  # noqa: SIM105 - the hot path: try/except costs less than suppress()
                os.write(fd, packet)
            except OSError:
                pass
            if not heap or heap[0][0] > now:
                now = time.monotonic_ns()
        if heap and (timer.armed_at == 0 or heap[0][0] < timer.armed_at):
            timer.arm(heap[0][0])

    def close(self) -> None:
        for port in self.ports.values():
            os.close(port.fd)
        self._timer.close()
        self._epoll.close()
