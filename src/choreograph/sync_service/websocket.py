"""The sync service's websocket: ``websockets`` for the handshake, closing and every unusual
frame; the service itself for the data frames of an open connection.

Why: with ``websockets`` reading, a request costs a pass through its parser generator, a
frame object, its message assembler's queue and future, and a wake-up of the connection's
reader task before the service even sees it; an answer then waits for that task's turn of the
event loop. Here :meth:`SyncWebSocket.data_received` splits the data frames out of the bytes
(:func:`~choreograph.sync_service.frames.split_frames`) and hands each payload to the
connection's ``receive`` in the same callback, so a ``signal_entry`` or ``publish`` is
answered before the loop moves on. Measured with ``bench/vs_testground.py --skip-runs`` on
the 2-core development box (Go load generator, Testground's Go service side by side in the
same run): ``signal_entry`` 100 clients x 1 in flight 18,178 ops/s before (0.68x the Go
service), 43,571 after (1.07x); 1 client x 16 in flight 22,865 → 67,800 (0.88x → 1.67x);
``publish`` 100 x 1 24,673 → 33,802, 100 x 16 38,519 → 53,881 (1.41x).

The hand-over is exact, so that ``websockets`` still behaves as it always did for everything
this module does not read:

* Bytes received before the connection is open (the handshake) go to ``websockets``; if a
  client sent frames right behind its handshake request (before the 101 response), they went
  with them, and this connection stays with ``websockets`` throughout (order is kept).
* Once open, bytes are kept here until the service calls :meth:`SyncWebSocket.take_over`,
  then read as frames. The first frame :func:`split_frames` leaves (a ping, a close, a
  fragment, an oversized or unmasked frame) and everything after it go to ``websockets``,
  from a frame boundary, and the connection stays with it from then on.
* ``receive`` returns False when its answers cannot be queued (a peer that does not read):
  reading pauses until the service calls :meth:`SyncWebSocket.resume`. A connection also
  yields the loop once it has read for ``slice_s`` (as the service's reader task does).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.protocol import State

from choreograph.sync_service.frames import split_frames

_HEADERS_END = b"\r\n\r\n"
_HANDSHAKE_CAP = 1 << 16
"""Bytes of a handshake kept to find its end (``websockets`` refuses far smaller requests)."""

_WAITING, _READING, _HANDED_OVER = range(3)

_BATCH = 64
"""Frames split per pass: the slice's clock is read between passes, not per frame."""


class SyncWebSocket(ServerConnection):
    """A ``ServerConnection`` whose data frames, once it is open and taken over, are read
    here and given to ``receive`` one payload at a time (see the module's docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._mode = _WAITING
        self._handshake: bytearray | None = bytearray()
        self._pending = bytearray()
        self._receive: Callable[[bytes], bool] | None = None
        self._slice_s = 0.0
        self._max_size = 0
        self._blocked = False
        """``receive`` asked to wait (its answer could not be queued) until resume()."""
        self._yielding = False
        """The slice is used up: reading carries on at the loop's next turn."""
        self._writing_paused = False
        self.on_writable: Callable[[], None] | None = None
        """Called when the transport's buffer has drained after it was over its high-water
        mark: the connection wakes the subscriptions that stalled on it."""

    # --- the service's side ------------------------------------------------------

    def take_over(self, receive: Callable[[bytes], bool], slice_s: float, max_size: int) -> bool:
        """Read this connection's data frames here from now on, giving each payload to
        ``receive``; False (nothing changes) when ``websockets`` must keep reading it: an
        extension was negotiated, or frames reached it already. ``max_size``: the
        ``max_size`` given to ``websockets`` (a larger frame is left to it, to refuse)."""
        if self._mode != _WAITING or self.protocol.extensions:
            self._hand_over()
            return False
        self._receive = receive
        self._slice_s = slice_s
        self._max_size = max_size
        self._mode = _READING
        self._read()
        self._update_transport()
        return True

    def resume(self) -> None:
        """Carry on reading after ``receive`` returned False, once its answer is queued."""
        if self._blocked:
            self._blocked = False
            self._read()
            self._update_transport()

    def push_ready(self) -> bool:
        """Subscription frames may be written now: open, and the transport's buffer is not
        over its high-water mark (see :mod:`.push`)."""
        return not self._writing_paused and self.protocol.state is State.OPEN

    def push_write(self, data: bytes) -> None:
        self.transport.write(data)

    @property
    def taken_over(self) -> bool:
        """True while the service reads this connection's frames itself."""
        return self._mode == _READING

    # --- asyncio's side -----------------------------------------------------------

    def pause_writing(self) -> None:
        self._writing_paused = True
        super().pause_writing()

    def resume_writing(self) -> None:
        self._writing_paused = False
        super().resume_writing()
        if self.on_writable is not None:
            self.on_writable()

    def data_received(self, data: bytes) -> None:
        if self._mode == _HANDED_OVER:
            super().data_received(data)
        elif self.protocol.state is State.CONNECTING:
            self._watch_handshake(data)
            super().data_received(data)
        elif self.protocol.state is not State.OPEN:
            self._hand_over(data)
        else:
            self._pending += data
            self._read()
            self._update_transport()

    def _watch_handshake(self, data: bytes) -> None:
        """Note whether any byte beyond the handshake request reached ``websockets``."""
        if self._handshake is None:  # the request ended in an earlier read: this is a frame
            self._mode = _HANDED_OVER
            return
        self._handshake += data
        end = self._handshake.find(_HEADERS_END)
        if end >= 0:
            if end + len(_HEADERS_END) < len(self._handshake):
                self._mode = _HANDED_OVER
            self._handshake = None
        elif len(self._handshake) > _HANDSHAKE_CAP:
            self._mode = _HANDED_OVER  # websockets refuses such a request anyway
            self._handshake = None

    def _read(self) -> None:
        """Give the complete data frames kept so far to ``receive``, until one is not a
        data frame, ``receive`` asks to wait, or the connection's slice is used up."""
        if self._mode != _READING or self._blocked or self._yielding or not self._pending:
            return
        receive = self._receive
        assert receive is not None
        ends = time.perf_counter() + self._slice_s
        while True:
            split = split_frames(self._pending, self._max_size, limit=_BATCH)
            for payload, end in zip(split.payloads, split.ends, strict=True):
                if not receive(payload):
                    del self._pending[:end]
                    self._blocked = True
                    return
            del self._pending[: split.end]
            if split.foreign:
                self._hand_over()
                return
            if len(split.payloads) < _BATCH or self._mode != _READING:
                return  # what is left (if anything) is an incomplete frame
            if time.perf_counter() >= ends:
                self._yielding = True
                self.loop.call_soon(self._next_slice)
                return

    def _next_slice(self) -> None:
        self._yielding = False
        self._read()
        self._update_transport()

    def _update_transport(self) -> None:
        """Keep the kernel's data out of this process while reading here waits (for the
        service or for the next slice), and let it in again once it does not."""
        if self._mode != _READING:
            return
        waiting = self._blocked or self._yielding
        if waiting and self.transport.is_reading():
            self.transport.pause_reading()
        elif not waiting and not self.transport.is_reading():
            self.transport.resume_reading()

    def _hand_over(self, data: bytes = b"") -> None:
        """From here on ``websockets`` reads everything, starting with what is kept."""
        was_reading = self._mode == _READING
        self._mode = _HANDED_OVER
        rest, self._pending = bytes(self._pending) + data, bytearray()
        self._blocked = self._yielding = False
        if was_reading and not self.transport.is_reading():
            self.transport.resume_reading()
        if rest:
            super().data_received(rest)
