"""The ICMP error the switch sends for a rejected packet is well formed."""

import struct

from choreograph.net.shaping.packets import checksum, icmp_prohibited


def udp_packet() -> bytes:
    payload = b"hello"
    udp = struct.pack("!HHHH", 4000, 5000, 8 + len(payload), 0) + payload
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(udp),
        7,
        0,
        64,
        17,
        0,
        bytes([10, 1, 0, 2]),
        bytes([10, 1, 0, 3]),
    )
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return header + udp


def test_icmp_prohibited_goes_back_with_valid_checksums_and_the_quote() -> None:
    original = udp_packet()
    reply = icmp_prohibited(original)
    assert reply[12:16] == original[16:20] and reply[16:20] == original[12:16]
    assert reply[9] == 1 and checksum(reply[:20]) == 0
    icmp = reply[20:]
    assert icmp[0] == 3 and icmp[1] == 13 and checksum(icmp) == 0
    assert icmp[8:] == original[:28]
    assert struct.unpack("!H", reply[2:4])[0] == len(reply)
