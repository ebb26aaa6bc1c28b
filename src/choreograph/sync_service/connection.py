"""One client's websocket: decode each request, dispatch it, send the answers, clean up.

A connection owns one ``asyncio.TaskGroup`` holding its writer and one task per long-lived
request (a subscription or a barrier not yet met); publish and signal_entry are answered
inline, without a task, because they never wait. Every outgoing frame goes through one
bounded queue drained by the writer, so the frames of concurrent subscriptions never
interleave, and a peer that stops reading stalls only its own connection: once the queue is
full, its subscriptions and its reader wait, while every other connection carries on.

Malformed input is answered with an ``error`` response (carrying the request's id whenever one
could be read), logged, and counted; it never closes the connection. When the peer goes away,
leaving the task group cancels every subscription and barrier it had: nothing leaks.

``is_cancel`` stops the subscription or barrier with that id and, like Testground's own
service, sends no answer; cancelling an id that is not active is logged and ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed, ConnectionClosedError

from choreograph.errors import ProtocolError, SyncError
from choreograph.sync_service.states import State, States
from choreograph.sync_service.topics import Topic, Topics
from choreograph.wire.sync import (
    SUBSCRIBE_TAIL,
    Barrier,
    Publish,
    SignalEntry,
    Subscribe,
    decode_request,
    error_response,
    ok_response,
    publish_response,
    signal_entry_response,
    subscribe_response_head,
)

log = logging.getLogger("choreograph.sync_service")

SEND_QUEUE_FRAMES = 256
"""Frames a connection may have waiting to be sent before its producers wait for the peer."""

# A queued frame, or a subscription's (response head, quoted payload), joined only when sent:
# the queue then holds references to the topic's shared text rather than fresh copies.
Outgoing = str | tuple[str, str]


class Tally:
    """Counters shared by every connection of one service (for ``statistics()``)."""

    __slots__ = ("errors", "requests")

    def __init__(self) -> None:
        self.requests = 0
        self.errors = 0


class _PeerGone(Exception):
    """The websocket is closed (seen by the reader or the writer): the connection ends."""


class Connection:
    """Serves one websocket until the peer leaves (or the service closes it)."""

    def __init__(
        self,
        ws: ServerConnection,
        topics: Topics,
        states: States,
        tally: Tally,
        *,
        max_frame_bytes: int,
        send_queue_frames: int = SEND_QUEUE_FRAMES,
    ) -> None:
        self._ws = ws
        self._topics = topics
        self._states = states
        self._tally = tally
        self._max_frame_bytes = max_frame_bytes
        self._out: asyncio.Queue[Outgoing] = asyncio.Queue(send_queue_frames)
        self._ops: dict[str, asyncio.Task[None]] = {}
        self._tg: asyncio.TaskGroup | None = None
        self.peer = _describe(ws.remote_address)

    async def serve(self) -> None:
        """Read and answer requests until the peer disconnects; returns with no task left."""
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                tg.create_task(self._write_loop(), name=f"sync-writer {self.peer}")
                await self._read_loop()
                # Raising in the body makes the group cancel every task it still holds (the
                # writer, subscriptions, barriers) and wait for them: nothing outlives the peer.
                raise _PeerGone
        except* _PeerGone:
            pass
        except* Exception:
            log.exception("connection %s failed", self.peer)
        finally:
            self._tg = None

    def abort(self) -> None:
        """Drop the TCP connection at once (for a peer that does not answer a close)."""
        self._ws.transport.abort()

    # --- reading and dispatch --------------------------------------------------

    async def _read_loop(self) -> None:
        put = self._out.put
        try:
            async for frame in self._ws:
                response = self._dispatch(frame)
                if response is not None:
                    await put(response)
        except ConnectionClosedError as exc:
            log.debug("connection %s lost: %s", self.peer, exc)

    def _dispatch(self, frame: str | bytes) -> str | None:
        """Carry out one request; return the immediate answer, if it has one."""
        self._tally.requests += 1
        # Binary frames are read like text ones: Testground's Go service does the same, and
        # its Rust SDK sends every request as a binary frame.
        try:
            request = decode_request(frame, max_bytes=self._max_frame_bytes)
        except ProtocolError as exc:
            return self._refuse(exc.request_id, str(exc))
        rid, op = request.id, request.op
        if isinstance(op, SignalEntry):
            return signal_entry_response(rid, self._states.get(op.state).signal_entry())
        if isinstance(op, Publish):
            try:
                seq = self._topics.get(op.topic).publish(op.payload)
            except (TypeError, ValueError, RecursionError) as exc:
                return self._refuse(rid, f"publish.payload: cannot be sent on as JSON: {exc}")
            return publish_response(rid, seq)
        if isinstance(op, Barrier):
            state = self._states.get(op.state)
            if state.count >= op.target:
                return ok_response(rid)
            return self._start(rid, self._barrier(rid, state, op.target))
        if isinstance(op, Subscribe):
            return self._start(rid, self._subscription(rid, self._topics.get(op.topic)))
        self._cancel(rid)
        return None

    def _refuse(self, rid: str | None, message: str) -> str:
        self._tally.errors += 1
        log.warning("connection %s: request %s refused: %s", self.peer, rid or "(no id)", message)
        return error_response(rid, message)

    # --- long-lived requests ---------------------------------------------------

    def _start(self, rid: str, work: Coroutine[Any, Any, None]) -> str | None:
        if rid in self._ops:
            work.close()
            return self._refuse(rid, f"id {rid!r} is already in use by an active request")
        assert self._tg is not None, "requests are dispatched only while serve() runs"
        self._ops[rid] = self._tg.create_task(self._tracked(rid, work))
        return None

    async def _tracked(self, rid: str, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        finally:
            # Identity check: after a cancel, a new request may already reuse the id.
            if self._ops.get(rid) is asyncio.current_task():
                del self._ops[rid]

    def _cancel(self, rid: str) -> None:
        task = self._ops.pop(rid, None)
        if task is None:
            log.info("connection %s: cancel of %r, which is not active; ignored", self.peer, rid)
            return
        task.cancel()

    async def _barrier(self, rid: str, state: State, target: int) -> None:
        try:
            await state.wait(target)
        except SyncError as exc:
            await self._out.put(error_response(rid, str(exc)))
            return
        await self._out.put(ok_response(rid))

    async def _subscription(self, rid: str, topic: Topic) -> None:
        head = subscribe_response_head(rid)
        put = self._out.put
        async with contextlib.aclosing(topic.follow()) as entries:
            async for entry in entries:
                await put((head, entry.quoted))

    # --- writing ---------------------------------------------------------------

    async def _write_loop(self) -> None:
        get, send = self._out.get, self._ws.send
        while True:
            item = await get()
            frame = item if isinstance(item, str) else item[0] + item[1] + SUBSCRIBE_TAIL
            try:
                await send(frame)
            except ConnectionClosed as exc:
                raise _PeerGone from exc


def _describe(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address)
