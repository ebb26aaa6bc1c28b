"""split_frames reads exactly the frames a client's websockets writes, and leaves the rest.

The oracle is websockets' own serializer (a client masks every frame): every frame it makes
of a data message must come back unmasked, byte for byte, at any split of the stream; every
other frame (control, fragment, unmasked, reserved bits, oversized) must be left at its
first byte, untouched, for websockets to answer.
"""

from __future__ import annotations

import random

import pytest
from websockets.frames import Frame, Opcode

from choreograph.sync_service.frames import split_frames


def client_frame(payload: bytes, opcode: Opcode = Opcode.TEXT, fin: bool = True) -> bytes:
    return Frame(opcode, payload, fin=fin).serialize(mask=True, extensions=[])


SIZES = [0, 1, 125, 126, 127, 65535, 65536, 70_000]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("opcode", [Opcode.TEXT, Opcode.BINARY])
def test_a_data_frame_of_any_length_comes_back_unmasked(size: int, opcode: Opcode) -> None:
    payload = bytes(random.Random(size).randrange(256) for _ in range(size))
    data = client_frame(payload, opcode)
    split = split_frames(data, max_size=1 << 20)
    assert split.payloads == [payload]
    assert split.ends == [len(data)] and split.end == len(data)
    assert not split.foreign


def test_frames_cut_anywhere_are_taken_only_once_complete() -> None:
    payloads = [b'{"id":"%d"}' % i * (i % 5 + 1) for i in range(40)] + [b"x" * 300]
    stream = b"".join(client_frame(p) for p in payloads)
    rng = random.Random(7)
    for _ in range(50):
        buffer = bytearray()
        got: list[bytes] = []
        at = 0
        while at < len(stream):
            step = rng.randrange(1, 40)
            buffer += stream[at : at + step]
            at += step
            split = split_frames(buffer, max_size=1 << 20)
            assert not split.foreign
            got.extend(split.payloads)
            del buffer[: split.end]
        assert got == payloads and not buffer


@pytest.mark.parametrize(
    "foreign",
    [
        Frame(Opcode.PING, b"p").serialize(mask=True, extensions=[]),
        Frame(Opcode.PONG, b"").serialize(mask=True, extensions=[]),
        Frame(Opcode.CLOSE, b"\x03\xe8").serialize(mask=True, extensions=[]),
        client_frame(b"part", fin=False),  # the start of a fragmented message
        Frame(Opcode.CONT, b"rest").serialize(mask=True, extensions=[]),
        Frame(Opcode.TEXT, b"plain").serialize(mask=False, extensions=[]),  # not masked
        bytes([client_frame(b"r")[0] | 0x40]) + client_frame(b"r")[1:],  # RSV1 set
        client_frame(b"y" * 2000),  # over max_size
    ],
    ids=["ping", "pong", "close", "fragment", "continuation", "unmasked", "rsv1", "oversized"],
)
def test_anything_else_is_left_at_its_first_byte(foreign: bytes) -> None:
    before = client_frame(b"one") + client_frame(b"two")
    after = client_frame(b"three")
    split = split_frames(before + foreign + after, max_size=1000)
    assert split.payloads == [b"one", b"two"]
    assert split.end == len(before) and split.foreign


def test_limit_stops_after_that_many_frames() -> None:
    data = b"".join(client_frame(b"%d" % i) for i in range(10))
    split = split_frames(data, max_size=100, limit=3)
    assert split.payloads == [b"0", b"1", b"2"]
    assert split.end == split.ends[-1] < len(data) and not split.foreign


def test_an_incomplete_extended_length_waits() -> None:
    data = client_frame(b"z" * 70_000)
    for cut in (1, 2, 3, 9, 13, len(data) - 1):
        split = split_frames(data[:cut], max_size=1 << 20)
        assert split == ([], [], 0, False)
