"""The few IPv4 packets the switch writes itself: pure functions over bytes."""

from __future__ import annotations

import struct

ICMP = 1
ICMP_UNREACHABLE = 3
ICMP_ADMIN_PROHIBITED = 13
""""Communication administratively prohibited": Linux turns it into EHOSTUNREACH and,
for a connecting TCP socket, fails ``connect`` at once (a hard error)."""


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def icmp_prohibited(packet: bytes) -> bytes:
    """The ICMP error a filtering router sends back for ``packet`` (an IPv4 packet): from
    its destination to its source, quoting its header and first 8 payload bytes."""
    header_len = (packet[0] & 0x0F) * 4
    quoted = packet[: header_len + 8]
    body = struct.pack("!BBHI", ICMP_UNREACHABLE, ICMP_ADMIN_PROHIBITED, 0, 0) + quoted
    body = body[:2] + struct.pack("!H", checksum(body)) + body[4:]
    src, dst = packet[16:20], packet[12:16]
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 0, 0, 64, ICMP, 0, src, dst)
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return header + body
