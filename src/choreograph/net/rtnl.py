"""A minimal rtnetlink client: link up/down and MTU, IPv4 addresses, default routes.

Why not an ``ip`` process per namespace: spawning one costs ~1.7 ms of CPU, which alone
used most of the 5 ms-per-host budget at 200 hosts; these few messages cost ~0.1 ms. Why
not pyroute2: 24 ms per host here (and ~220 ms to import). The socket talks to the
namespace of the thread that creates it, so a worker thread enters a namespace
(:func:`~choreograph.net._enter.in_netns`), opens an :class:`Rtnl`, and configures it.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import struct

NETLINK_ROUTE = 0
RTM_NEWLINK, RTM_DELLINK, RTM_NEWADDR, RTM_DELADDR, RTM_NEWROUTE = 16, 17, 20, 21, 24
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE, NLM_F_REPLACE = 1, 4, 0x200, 0x400, 0x100
NLMSG_ERROR = 2
IFF_UP = 1
IFLA_MTU = 4
IFLA_IFALIAS = 20
IFA_ADDRESS, IFA_LOCAL = 1, 2
RTA_OIF = 4
RT_TABLE_MAIN, RTPROT_BOOT = 254, 3
RT_SCOPE_UNIVERSE, RT_SCOPE_LINK = 0, 253
RTN_UNICAST, RTN_UNREACHABLE = 1, 7

_HEADER = struct.Struct("=IHHII")  # nlmsghdr
_IFINFO = struct.Struct("=BxHiII")  # ifinfomsg
_IFADDR = struct.Struct("=BBBBi")  # ifaddrmsg
_RTMSG = struct.Struct("=BBBBBBBBI")  # rtmsg


def _attr(kind: int, data: bytes) -> bytes:
    length = 4 + len(data)
    return struct.pack("=HH", length, kind) + data + bytes(-length % 4)


class Rtnl:
    """One netlink socket in the calling thread's namespace; every request is acknowledged
    (an error raises ``OSError`` with the kernel's errno)."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        self._sock.bind((0, 0))
        self._seq = 0

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Rtnl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, kind: int, flags: int, body: bytes) -> None:
        self._seq += 1
        header = _HEADER.pack(
            _HEADER.size + len(body), kind, flags | NLM_F_REQUEST | NLM_F_ACK, self._seq, 0
        )
        self._sock.send(header + body)
        while True:
            reply = self._sock.recv(65536)
            _, reply_kind, _, seq, _ = _HEADER.unpack_from(reply)
            if reply_kind == NLMSG_ERROR and seq == self._seq:
                (code,) = struct.unpack_from("=i", reply, _HEADER.size)
                if code:
                    raise OSError(-code, os.strerror(-code))
                return

    def set_link(
        self, name: str, *, up: bool, mtu: int | None = None, alias: str | None = None
    ) -> None:
        index = socket.if_nametoindex(name)
        body = _IFINFO.pack(socket.AF_UNSPEC, 0, index, IFF_UP if up else 0, IFF_UP)
        if mtu is not None:
            body += _attr(IFLA_MTU, struct.pack("=I", mtu))
        if alias is not None:
            body += _attr(IFLA_IFALIAS, alias.encode())
        self._request(RTM_NEWLINK, 0, body)

    def delete_link(self, name: str) -> None:
        index = socket.if_nametoindex(name)
        self._request(RTM_DELLINK, 0, _IFINFO.pack(socket.AF_UNSPEC, 0, index, 0, 0))

    def add_address(self, name: str, interface: ipaddress.IPv4Interface) -> None:
        self._address(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, name, interface)

    def delete_address(self, name: str, interface: ipaddress.IPv4Interface) -> None:
        self._address(RTM_DELADDR, 0, name, interface)

    def _address(
        self, kind: int, flags: int, name: str, interface: ipaddress.IPv4Interface
    ) -> None:
        index = socket.if_nametoindex(name)
        packed = interface.ip.packed
        body = _IFADDR.pack(
            socket.AF_INET, interface.network.prefixlen, 0, RT_SCOPE_UNIVERSE, index
        )
        self._request(kind, flags, body + _attr(IFA_LOCAL, packed) + _attr(IFA_ADDRESS, packed))

    def default_route(self, name: str | None) -> None:
        """Route everything through ``name``, or make it unreachable (``None``)."""
        if name is None:
            body = _RTMSG.pack(
                socket.AF_INET,
                0,
                0,
                0,
                RT_TABLE_MAIN,
                RTPROT_BOOT,
                RT_SCOPE_UNIVERSE,
                RTN_UNREACHABLE,
                0,
            )
        else:
            body = _RTMSG.pack(
                socket.AF_INET, 0, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_LINK, RTN_UNICAST, 0
            )
            body += _attr(RTA_OIF, struct.pack("=i", socket.if_nametoindex(name)))
        self._request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, body)


def is_missing(exc: OSError) -> bool:
    """An error saying the thing to remove is already gone."""
    return exc.errno in (errno.EADDRNOTAVAIL, errno.ENOENT, errno.ESRCH, errno.ENODEV)
