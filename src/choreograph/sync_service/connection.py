"""One client's websocket: decode each request, dispatch it, send the answers, clean up.

Requests reach :meth:`Connection._receive` straight from the socket's callback
(:mod:`.websocket`), or through :meth:`Connection._read_loop` for what ``websockets`` keeps
(a connection whose frames reached it first, anything after a control frame or a fragment).
publish, signal_entry and a met barrier are answered inline; a barrier not yet met is a
callback its state calls, one scheduled call for all it releases (:class:`.states.Barrier`);
a subscription is a :class:`~.push.Push` its topic moves forward (or, when frames must go
through ``websockets``' ``send()`` because an extension was negotiated, a task of the
connection's ``asyncio.TaskGroup``). Answers not written at once go
through one bounded queue drained by the writer, so a peer that stops reading stalls only its
own connection: once the queue is full, its reading pauses, while every other connection
carries on.

Malformed input, and a publish over the history budget, are answered with an ``error``
response (carrying the request's id whenever one could be read), counted, and logged through
the connection's :class:`~choreograph.sync_service.refusal_log.RefusalLog` (the first few
each, then summaries); they never close the connection. When the peer goes away, leaving the
task group cancels every task it had, and its pushes are detached: nothing leaks. A request
read as the peer leaves may find the group already shutting down, or its task cancelled
before it ever ran: each task's coroutine is created only when the task is, and closed if the
group refuses it, so no "coroutine was never awaited" is left behind.

Fairness: reading and writing each give the event loop a turn once they have run for
:data:`SLICE_S` without one. Neither suspends while it has work at hand (frames already
received, a queue that is not full, a socket that takes the data), so without it a peer that
floods requests, or a subscription replaying a long history to a fast reader, ran for up to a
queue's worth of frames per turn (10 ms and more), and since an answer takes several turns of
the loop (read, dispatch, write), every other client's round trip grew by that many times.

Writing: a frame goes to the socket directly (:meth:`Connection._emit`) when nothing is
queued before it and the socket has taken everything so far; otherwise it is queued, and the
writer sends everything queued in one write. The frames are built here
(:func:`~.frames.text_frame`) rather than through ``websockets``' ``send()``, whose per-frame
lock, state checks and generator cost as much as the rest of a delivery together. Measured on
a fan-out of 200 subscribers x 300 messages: 29 µs of service CPU per delivery through
``send()`` and a queue hop per frame, 14.8 µs direct; a publisher's answer no longer waits
behind the deliveries.

``is_cancel`` stops the subscription or barrier with that id and, like Testground's own
service, sends no answer; cancelling an id that is not active is logged and ignored.

One module past 400 lines on purpose: reading, dispatch and writing share one connection's
state (its active ops by id, its bounded queue, its refusal log) on every request; the parts
that stand alone already live beside it (frames, push cursors, states, the websocket).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, ParamSpec

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed, ConnectionClosedError
from websockets.protocol import State as WebSocketState

from choreograph.errors import ProtocolError, SyncError
from choreograph.sync_service.frames import text_frame
from choreograph.sync_service.push import Push
from choreograph.sync_service.refusal_log import RefusalLog
from choreograph.sync_service.states import Barrier as StateBarrier
from choreograph.sync_service.states import State, States
from choreograph.sync_service.topics import Topic, Topics
from choreograph.sync_service.websocket import SyncWebSocket
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

SLICE_S = 0.001
"""How long a connection's reader or writer runs before it lets other tasks run: short enough
that a round trip of another client (a few turns of the loop) stays within milliseconds, long
enough to batch dozens of small frames per turn."""

WRITE_BATCH_FRAMES = 64
"""Queued frames the writer joins into one write (one system call)."""

P = ParamSpec("P")

# A queued frame, or a subscription's (response head, quoted payload), joined only when sent:
# the queue then holds references to the topic's shared text rather than fresh copies.
Outgoing = str | tuple[str, str]


def _text(item: Outgoing) -> str:
    return item if isinstance(item, str) else item[0] + item[1] + SUBSCRIBE_TAIL


class Tally:
    """Counters shared by every connection of one service (for ``statistics()``)."""

    __slots__ = ("errors", "rejected_handshakes", "requests")

    def __init__(self) -> None:
        self.requests = 0
        self.errors = 0
        self.rejected_handshakes = 0


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
        frame_ceiling: int | None = None,
        send_queue_frames: int = SEND_QUEUE_FRAMES,
    ) -> None:
        self._ws = ws
        self._topics = topics
        self._states = states
        self._tally = tally
        self._max_frame_bytes = max_frame_bytes
        self._frame_ceiling = frame_ceiling or max_frame_bytes
        """The websocket layer's own limit (``max_size``): beyond it, it closes (1009)."""
        self._out: asyncio.Queue[Outgoing] = asyncio.Queue(send_queue_frames)
        # Frames are written here only when no extension (compression) was negotiated.
        self._direct = not ws.protocol.extensions
        self._ops: dict[str, asyncio.Task[None] | Push | StateBarrier] = {}
        """Active subscriptions (pushes, or tasks when frames go through ``send()``) and
        barriers by request id."""
        self._tg: asyncio.TaskGroup | None = None
        address = ws.remote_address
        self.peer = _describe(address)
        # One string per connection, shared by every entry it publishes (their origin).
        self.host: str | None = str(address[0]) if isinstance(address, tuple) else None
        self._refusals = RefusalLog(self.peer)

    async def serve(self) -> None:
        """Read and answer requests until the peer disconnects; returns with no task left."""
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                tg.create_task(self._write_loop(), name=f"sync-writer {self.peer}")
                if self._direct and isinstance(self._ws, SyncWebSocket):
                    # Data frames are now read in the socket's callback (see .websocket);
                    # the read loop below still serves what it leaves to websockets.
                    self._ws.take_over(self._receive, SLICE_S, self._frame_ceiling)
                    self._ws.on_writable = self._wake_pushes
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
            for rid, op in list(self._ops.items()):
                if isinstance(op, Push):
                    op.topic.detach(op)
                elif isinstance(op, StateBarrier):  # withdrawn: nobody is left to answer
                    op.cancel()
                    del self._ops[rid]
            if isinstance(self._ws, SyncWebSocket):
                self._ws.on_writable = None
            self._refusals.close()

    def abort(self) -> None:
        """Drop the TCP connection at once (for a peer that does not answer a close)."""
        self._ws.transport.abort()

    # --- reading and dispatch --------------------------------------------------

    async def _read_loop(self) -> None:
        put, emit = self._out.put, self._emit
        turn_ends = time.perf_counter() + SLICE_S
        try:
            async for frame in self._ws:
                response = self._dispatch(frame)
                if response is not None and not emit(response):
                    await put(response)
                if time.perf_counter() >= turn_ends:
                    await asyncio.sleep(0)
                    turn_ends = time.perf_counter() + SLICE_S
        except ConnectionClosedError as exc:
            log.debug("connection %s lost: %s", self.peer, exc)

    def _receive(self, payload: bytes) -> bool:
        """One request read by the socket itself: answered at once, or queued; False when
        the queue is full, and the socket waits for :meth:`_queue_then_resume`."""
        response = self._dispatch(payload)
        if response is None or self._emit(response):
            return True
        try:
            self._out.put_nowait(response)
            return True
        except asyncio.QueueFull:
            pass
        if self._tg is None:
            return True  # the connection is ending: nobody to answer
        work = self._queue_then_resume(response)
        try:
            self._tg.create_task(work)
        except RuntimeError:  # the group is closing: the peer is gone
            work.close()
            return True
        return False

    async def _queue_then_resume(self, response: str) -> None:
        await self._out.put(response)
        ws = self._ws
        assert isinstance(ws, SyncWebSocket)
        ws.resume()

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
                seq = self._topics.get(op.topic).publish(op.payload, self.host)
            except SyncError as exc:  # over the history budget
                return self._refuse(rid, str(exc))
            except (TypeError, ValueError, RecursionError) as exc:
                return self._refuse(rid, f"publish.payload: cannot be sent on as JSON: {exc}")
            return publish_response(rid, seq)
        if isinstance(op, Barrier):
            return self._barrier(rid, self._states.get(op.state), op.target)
        if isinstance(op, Subscribe):
            return self._subscribe(rid, self._topics.get(op.topic))
        self._cancel(rid)
        return None

    def _refuse(self, rid: str | None, message: str) -> str:
        self._tally.errors += 1
        self._refusals.record(rid, message)
        return error_response(rid, message)

    # --- long-lived requests ---------------------------------------------------

    def _start(
        self,
        rid: str,
        run: Callable[Concatenate[str, P], Coroutine[Any, Any, None]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> str | None:
        """Run ``run(rid, *args)`` as the task of request ``rid``, tracked until it ends."""
        if rid in self._ops:
            return self._in_use(rid)
        assert self._tg is not None, "requests are dispatched only while serve() runs"
        # The coroutine is the task's own: a task cancelled before its first step closes it
        # (a wrapper awaiting a separate coroutine would leave that one never awaited).
        work = run(rid, *args, **kwargs)
        try:
            task = self._tg.create_task(work)
        except RuntimeError:
            # The group is shutting down: the peer is gone, nobody is left to answer.
            work.close()
            return None
        self._ops[rid] = task
        task.add_done_callback(functools.partial(self._forget, rid))
        return None

    def _subscribe(self, rid: str, topic: Topic) -> str | None:
        """A push its topic moves forward (see :mod:`.push`) when frames are written here,
        else a task that sends through ``websockets``."""
        ws = self._ws
        if not (self._direct and isinstance(ws, SyncWebSocket)):
            return self._start(rid, self._subscription, topic)
        if rid in self._ops:
            return self._in_use(rid)
        push = Push(topic, subscribe_response_head(rid), ws)
        self._ops[rid] = push
        topic.attach(push)
        return None

    def _wake_pushes(self) -> None:
        for op in list(self._ops.values()):
            if isinstance(op, Push) and op.stalled:
                op.topic.wake(op)

    def _in_use(self, rid: str) -> str:
        return self._refuse(rid, f"id {rid!r} is already in use by an active request")

    def _forget(self, rid: str, task: asyncio.Future[None] | Push) -> None:
        # Identity check: after a cancel, a new request may already reuse the id.
        if self._ops.get(rid) is task:
            del self._ops[rid]

    def _cancel(self, rid: str) -> None:
        task = self._ops.pop(rid, None)
        if isinstance(task, Push):
            task.topic.detach(task)
            return
        if task is None:
            # Debug, not info: SDKs cancel requests that have just ended, routinely, and a
            # peer repeating it must not be able to fill the log.
            log.debug("connection %s: cancel of %r, which is not active; ignored", self.peer, rid)
            return
        task.cancel()

    def _barrier(self, rid: str, state: State, target: int) -> str | None:
        """Answer at once if the state is at ``target``, else when it gets there: a
        callback the state calls (see :class:`.states.Barrier`), not a task."""
        if rid in self._ops:
            return self._in_use(rid)
        barrier = state.barrier(target, functools.partial(self._barrier_done, rid))
        if barrier is None:
            return ok_response(rid)
        self._ops[rid] = barrier
        return None

    def _barrier_done(self, rid: str, exc: SyncError | None) -> None:
        op = self._ops.get(rid)
        if isinstance(op, StateBarrier) and op.done():  # not a new request reusing the id
            del self._ops[rid]
        answer = ok_response(rid) if exc is None else error_response(rid, str(exc))
        if self._emit(answer):
            return
        try:
            self._out.put_nowait(answer)
        except asyncio.QueueFull:
            if self._tg is not None:  # wait for room, as a subscription would
                with contextlib.suppress(RuntimeError):  # the group is closing: peer gone
                    self._tg.create_task(self._out.put(answer))

    async def _subscription(self, rid: str, topic: Topic) -> None:
        head = subscribe_response_head(rid)
        put, emit = self._out.put, self._emit
        async with contextlib.aclosing(topic.follow()) as entries:
            async for entry in entries:
                item = (head, entry.quoted)
                if not emit(item):
                    await put(item)

    # --- writing ---------------------------------------------------------------

    def _emit(self, item: Outgoing) -> bool:
        """Write ``item`` to the socket now if that keeps the order and the flow control:
        nothing queued before it, the socket took everything so far, the websocket is open.
        False: queue it instead."""
        if not self._direct or not self._out.empty():
            return False
        ws = self._ws
        transport = ws.transport
        if transport.get_write_buffer_size() or ws.protocol.state is not WebSocketState.OPEN:
            return False
        transport.write(text_frame(_text(item)))
        return True

    async def _write_loop(self) -> None:
        """Send what is queued, in order: in one write per batch when frames are built
        here, else through ``websockets`` one by one."""
        out, ws = self._out, self._ws
        turn_ends = time.perf_counter() + SLICE_S
        while True:
            items = [await out.get()]
            while len(items) < WRITE_BATCH_FRAMES and not out.empty():
                items.append(out.get_nowait())
            try:
                if self._direct:
                    if ws.protocol.state is not WebSocketState.OPEN:
                        raise _PeerGone
                    ws.transport.write(b"".join(text_frame(_text(item)) for item in items))
                    await ws.drain()  # waits while the transport's buffer is over its limit
                else:
                    for item in items:
                        await ws.send(_text(item))
            except ConnectionClosed as exc:
                raise _PeerGone from exc
            # The socket takes the data without suspending (a fast reader on loopback): a
            # long replay would otherwise run a queue's worth per turn.
            if time.perf_counter() >= turn_ends:
                await asyncio.sleep(0)
                turn_ends = time.perf_counter() + SLICE_S


def _describe(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address)
