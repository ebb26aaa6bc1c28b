"""A read pipe handed to either event loop is closed exactly once.

uvloop 0.23 gives the descriptor to libuv, which closes it when the transport closes, and
then the file object closes the same number again; in between another thread may have been
given that number (the resource sampler's counters were, in CI: ``EBADF`` on its close).
"""

from __future__ import annotations

import asyncio
import gc
import io
import os
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from choreograph.eventloop import pipe_file
from choreograph.runners.launch import output_readers

uvloop = pytest.importorskip("uvloop", reason="uvloop is a Linux dependency")

LOOPS: dict[str, Callable[[Coroutine[Any, Any, None]], None]] = {
    "asyncio": asyncio.run,
    "uvloop": uvloop.run,
}


async def _turns(n: int = 5) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


class _Watched(io.FileIO):
    """A file object that notes when it would close a number already closed under it:
    the second close, which in a process with other threads may hit their file."""

    stale_closes: list[int] = []

    def close(self) -> None:
        if self.closefd and not self.closed and not _is_open(self.fileno()):
            self.stale_closes.append(self.fileno())
        super().close()


@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_the_pipe_is_closed_once(loop: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(io, "FileIO", _Watched)
    _Watched.stale_closes.clear()

    async def main() -> None:
        read, write = os.pipe()
        os.close(write)
        transport, _ = await asyncio.get_running_loop().connect_read_pipe(
            asyncio.Protocol, pipe_file(read)
        )
        transport.close()
        await _turns()
        del transport
        gc.collect()
        await _turns()
        assert not _is_open(read), "the pipe is closed once its transport is"

    LOOPS[loop](main())
    gc.collect()
    assert _Watched.stale_closes == [], "the pipe's number was closed a second time"


@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_instance_output_pipes_neither_leak_nor_close_twice(
    loop: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(io, "FileIO", _Watched)
    _Watched.stale_closes.clear()

    async def main() -> None:
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        stdout, stderr, transports = await output_readers(out_r, err_r)
        os.write(out_w, b"line\n")
        os.close(out_w)
        os.close(err_w)
        assert await stdout.read() == b"line\n"
        assert await stderr.read() == b""
        for transport in transports:
            transport.close()
        await _turns()
        del transports
        gc.collect()
        assert not _is_open(out_r) and not _is_open(err_r)

    LOOPS[loop](main())
    gc.collect()
    assert _Watched.stale_closes == []
