"""Websocket frames written and read by the sync service itself (RFC 6455 section 5.2).

:func:`text_frame` is a server's text frame (no extension is negotiated, so a 2-10 byte
header and the text). The rest reads client data frames straight from the socket's bytes.

The sync service reads the frames of an open websocket itself (see
:mod:`~choreograph.sync_service.websocket`) and leaves everything else to ``websockets``. This
module is the parsing half: :func:`split_frames` takes, from the front of a buffer, the
complete frames it is sure about — final (unfragmented) text or binary frames, masked as a
client's must be, no reserved bits, within the size limit — and stops at the first frame that
is anything else (a control frame, a fragment, a protocol fault), so that ``websockets`` gets
the rest from a frame boundary and answers it exactly as it always did: pings, closes, 1002
for an unmasked frame, 1009 for an oversized one.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

try:  # websockets' C helper: about 20x faster than unmasking in Python for a 100-byte frame
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - a websockets installation without its C extension
    from websockets.utils import apply_mask

_FIN_TEXT = 0x81
_HEADER_16 = struct.Struct("!BBH")
_HEADER_64 = struct.Struct("!BBQ")


def text_frame(text: str) -> bytes:
    """``text`` as one unmasked, unfragmented text frame (RFC 6455 section 5.2), as a
    server sends it when no extension was negotiated."""
    data = text.encode()
    size = len(data)
    if size < 126:
        return bytes((_FIN_TEXT, size)) + data
    if size < 65536:
        return _HEADER_16.pack(_FIN_TEXT, 126, size) + data
    return _HEADER_64.pack(_FIN_TEXT, 127, size) + data


_FIN = 0x80
_RSV = 0x70
_OPCODE = 0x0F
_MASKED = 0x80
_LENGTH = 0x7F
_DATA_OPCODES = (0x1, 0x2)  # text, binary


class Split(NamedTuple):
    """What :func:`split_frames` took from a buffer."""

    payloads: list[bytes]
    """The unmasked payloads of the complete data frames at the front, in order."""
    ends: list[int]
    """Where each of those frames ends in the buffer."""
    end: int
    """Where the bytes not taken begin."""
    foreign: bool
    """True: the frame at ``end`` is one this module leaves to ``websockets``; False: the
    bytes from ``end`` on are an incomplete frame (or nothing), to be completed by the next
    read."""


def split_frames(buffer: bytes | bytearray, max_size: int, limit: int = 1 << 30) -> Split:
    """The complete data frames at the front of ``buffer``, at most ``limit`` of them.

    ``max_size``: a frame announcing a larger payload is foreign (``websockets`` closes the
    connection with 1009 for it, as before).
    """
    payloads: list[bytes] = []
    ends: list[int] = []
    view = memoryview(buffer)
    size = len(buffer)
    at = 0
    while at + 2 <= size and len(payloads) < limit:
        first, second = buffer[at], buffer[at + 1]
        if (
            not first & _FIN
            or first & _RSV
            or first & _OPCODE not in _DATA_OPCODES
            or not second & _MASKED
        ):
            return Split(payloads, ends, at, True)
        length = second & _LENGTH
        head = at + 2
        if length == 126:
            if head + 2 > size:
                break
            length = int.from_bytes(view[head : head + 2], "big")
            head += 2
        elif length == 127:
            if head + 8 > size:
                break
            length = int.from_bytes(view[head : head + 8], "big")
            head += 8
        if length > max_size:
            return Split(payloads, ends, at, True)
        start = head + 4
        end = start + length
        if end > size:
            break
        payloads.append(apply_mask(view[start:end], bytes(view[head:start])))
        ends.append(end)
        at = end
    return Split(payloads, ends, at, False)
