"""One websocket to the sync service: request ids, dispatch of responses, failure of everything.

:class:`Connection` owns the socket and two tasks (a reader dispatching responses to the
futures and listeners waiting on them by id, and a writer draining an outbox), under one
``TaskGroup`` inside a runner task that :meth:`Connection.close` awaits, so a closed
connection leaves no task behind. Every send goes through the outbox, which makes sending
synchronous for callers: a cancel can be sent from a ``finally`` and an event from any thread
(via the loop), without awaiting. When the socket goes away, every waiter fails at once with
:class:`SyncError`, so no call can hang on a dead service.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from choreograph.errors import ProtocolError, SyncError
from choreograph.wire.sync import (
    Cancel,
    Operation,
    Request,
    Response,
    decode_response,
    encode_request,
)


class Listener(Protocol):
    """The receiving end of a long-lived request (a subscription)."""

    def _deliver(self, response: Response) -> None:
        """One response with an empty error."""

    def _end(self, error: SyncError, *, cancelled: bool) -> None:
        """No more responses: the service reported ``error``, or (``cancelled``) we stopped."""


class Connection:
    """A connected websocket speaking the sync-service protocol; loop-bound, not thread-safe."""

    def __init__(self, ws: ClientConnection, address: str) -> None:
        self.address = address
        self._ws = ws
        self._outbox: asyncio.Queue[str | None] = asyncio.Queue()
        self._pending: dict[str, asyncio.Future[Response]] = {}
        self._listeners: dict[str, Listener] = {}
        self._next_id = 0
        self._failure: SyncError | None = None
        self._sent = 0
        self._received = 0
        self._runner = asyncio.create_task(self._serve(), name=f"sync-connection {address}")

    @classmethod
    async def open(cls, host: str, port: int, *, timeout: float | None) -> Connection:
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        delay = 0.05
        while True:
            try:
                return cls(await cls._handshake(address, deadline), address)
            except ConnectionRefusedError as exc:
                # The service may not be listening yet (started alongside the instances);
                # keep knocking until the deadline.
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= delay:
                    raise SyncError(
                        f"cannot connect to the sync service at {address}: {exc} "
                        f"(kept trying for {timeout:g} s)"
                    ) from exc
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    @staticmethod
    async def _handshake(address: str, deadline: float | None) -> ClientConnection:
        remaining = (
            None if deadline is None else max(deadline - asyncio.get_running_loop().time(), 0.1)
        )
        try:
            # No proxy (the service is on the control network), no compression (small frames,
            # CPU matters with many instances per host), no size limit (history replays can be
            # large and the service is trusted), no keepalive pings (an async plan busy on the
            # CPU for longer than the ping timeout would lose its connection; a dead service
            # still resets the TCP connection).
            ws = await connect(
                f"ws://{address}/",
                proxy=None,
                compression=None,
                max_size=None,
                ping_interval=None,
                open_timeout=remaining,
            )
        except ConnectionRefusedError:
            raise
        except (OSError, WebSocketException) as exc:
            raise SyncError(
                f"cannot connect to the sync service at {address}: {exc or type(exc).__name__}"
            ) from exc
        return ws

    @property
    def closed(self) -> bool:
        return self._failure is not None

    def send(
        self, op: Operation, listener: Listener | None = None
    ) -> tuple[str, asyncio.Future[Response] | None]:
        """Queue one request; return its id and, unless a ``listener`` takes the responses,
        the future of its one response. Raises at once if the connection is gone."""
        if self._failure is not None:
            raise self._failure
        self._next_id += 1
        rid = str(self._next_id)
        frame = encode_request(Request(rid, op))  # a payload that is not JSON fails here
        future: asyncio.Future[Response] | None = None
        if listener is None:
            future = asyncio.get_running_loop().create_future()
            self._pending[rid] = future
        else:
            self._listeners[rid] = listener
        self._outbox.put_nowait(frame)
        self._sent += 1
        return rid, future

    async def request(self, op: Operation, *, cancellable: bool = False) -> Response:
        """Send ``op`` and wait for its one response; an ``error`` response raises SyncError.

        If the wait is abandoned (timeout, task cancelled) a ``cancellable`` request (a barrier)
        is cancelled on the service too, so it stops counting towards anything.
        """
        rid, future = self.send(op)
        assert future is not None
        try:
            return await future
        finally:
            # Cancelled (our waiter was abandoned) or still open: the dispatcher did not
            # settle it, so the id is still registered.
            if future.cancelled() or not future.done():
                future.cancel()
                self.forget(rid, cancel=cancellable)

    def forget(self, rid: str, *, cancel: bool) -> None:
        """Stop dispatching responses for ``rid``; with ``cancel``, tell the service too."""
        self._pending.pop(rid, None)
        self._listeners.pop(rid, None)
        if cancel and self._failure is None:
            self._outbox.put_nowait(encode_request(Request(rid, Cancel())))
            self._sent += 1

    async def close(self) -> None:
        """End every waiter, close the socket, and wait for the reader and writer to finish."""
        self._fail(SyncError(f"the sync client for {self.address} is closed"), cancelled=True)
        await self._ws.close()
        await self._runner

    def statistics(self) -> dict[str, int]:
        return {
            "frames_sent": self._sent,
            "frames_received": self._received,
            "pending_requests": len(self._pending),
            "active_subscriptions": len(self._listeners),
            "closed": int(self.closed),
        }

    # --- the two tasks -------------------------------------------------------

    async def _serve(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._read())
            tg.create_task(self._write())

    async def _read(self) -> None:
        reason = "closed by the service"
        try:
            async for frame in self._ws:
                self._received += 1
                self._dispatch(decode_response(frame))
        except ConnectionClosed as exc:
            reason = str(exc)
        except (ProtocolError, ValueError) as exc:
            reason = f"it sent a malformed frame ({exc})"
            await self._ws.close()
        finally:
            self._fail(
                SyncError(f"lost the connection to the sync service at {self.address}: {reason}")
            )
            self._outbox.put_nowait(None)  # stops the writer

    async def _write(self) -> None:
        while (frame := await self._outbox.get()) is not None:
            try:
                await self._ws.send(frame)
            except Exception:
                # Closing makes the reader end, and it fails every waiter with the reason.
                await self._ws.close()
                return

    def _dispatch(self, response: Response) -> None:
        future = self._pending.pop(response.id, None)
        if future is not None:
            if future.done():
                return
            if response.error:
                future.set_exception(SyncError(response.error))
            else:
                future.set_result(response)
            return
        listener = self._listeners.get(response.id)
        if listener is None:
            return  # an answer to something we cancelled or gave up on
        if response.error:
            del self._listeners[response.id]
            listener._end(SyncError(response.error), cancelled=False)
        else:
            listener._deliver(response)

    def _fail(self, error: SyncError, *, cancelled: bool = False) -> None:
        if self._failure is not None:
            return
        self._failure = error
        pending, self._pending = self._pending, {}
        listeners, self._listeners = self._listeners, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(error)
        for listener in listeners.values():
            listener._end(error, cancelled=cancelled)
