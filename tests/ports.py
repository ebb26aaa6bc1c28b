"""A port that is in use, as tests of port clashes need one: a socket listens on it."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator


@contextlib.contextmanager
def port_in_use(host: str = "127.0.0.1") -> Iterator[int]:
    """A port on ``host`` that a socket listens on until the block ends."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        sock.listen()
        yield sock.getsockname()[1]


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (for a server a test starts as a subprocess)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
    return port
