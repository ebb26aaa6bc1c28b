"""The async sync-service client of the SDK: states, barriers, topics and subscriptions.

:class:`SyncClient` is the one core; :class:`~choreograph.sdk.BlockingSyncClient` only
forwards to it. Names are scoped to the run with :mod:`choreograph.wire.topics`, exactly as
Testground's SDKs scope them, so a Python instance meets Go and JavaScript instances on the
same states and topics.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Generator
from types import TracebackType
from typing import Any

from choreograph.errors import SyncError
from choreograph.sdk._conn import Connection
from choreograph.sdk._runenv import RunEnv
from choreograph.wire.env import DEFAULT_SYNC_PORT
from choreograph.wire.events import Event
from choreograph.wire.sync import Barrier, Publish, Response, SignalEntry, Subscribe
from choreograph.wire.topics import RUN_EVENTS, run_events_key, state_key, topic_key

Scope = tuple[str, str, str]
"""``(run, plan, case)``: the keyspace a client's states and topics live in."""

DEFAULT_CONNECT_TIMEOUT = 60.0
"""Generous on purpose: hundreds of instances starting at once on a small host can keep
the service (and the handshake) waiting for many seconds; that is load, not failure.
``CHOREO_SYNC_CONNECT_TIMEOUT`` (seconds) overrides it for ``invoke``."""


def connect_timeout() -> float:
    """The connect timeout ``invoke`` uses: the environment's, else the default."""
    text = os.environ.get("CHOREO_SYNC_CONNECT_TIMEOUT", "")
    try:
        return float(text) if text else DEFAULT_CONNECT_TIMEOUT
    except ValueError:
        return DEFAULT_CONNECT_TIMEOUT


EVENT_FLUSH_TIMEOUT = 10.0
"""How long :meth:`SyncClient.close` waits for recorded events to be acknowledged."""

_END = object()


class Subscription:
    """The payloads published on one topic: every one since the first, in order, then new ones.

    Read one at a time with ``await sub.get(timeout=...)`` (or ``await anext(sub)``), or loop
    with ``async for payload in sub``. Leaving such a loop (``break``, an exception) cancels
    the subscription, as do ``await sub.cancel()`` and leaving ``async with sub``. Payloads
    arrive decoded from JSON.
    """

    def __init__(self, conn: Connection, topic: str) -> None:
        """Use :meth:`SyncClient.subscribe`."""
        self.topic = topic
        self._conn = conn
        self._rid = ""
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._error: SyncError | None = None
        self._cancelled = False

    async def get(self, timeout: float | None = None) -> Any:
        """The next payload. Raises ``TimeoutError`` after ``timeout`` seconds, and
        :class:`SyncError` once the subscription has ended (cancelled, closed, or failed)."""
        async with asyncio.timeout(timeout):
            item = await self._queue.get()
        if item is _END:
            self._queue.put_nowait(_END)  # every later get() ends the same way
            assert self._error is not None
            raise self._error
        return item

    async def cancel(self) -> None:
        """Stop receiving payloads; the service forgets the subscription. Idempotent."""
        self._cancel_now()

    aclose = cancel

    async def __anext__(self) -> Any:
        try:
            return await self.get()
        except SyncError:
            if self._cancelled:
                raise StopAsyncIteration from None
            raise

    async def __aiter__(self) -> AsyncIterator[Any]:
        try:
            while True:
                try:
                    item = await self.__anext__()
                except StopAsyncIteration:
                    return
                yield item
        finally:
            self._cancel_now()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._cancel_now()

    def __repr__(self) -> str:
        state = "ended" if self._error else "active"
        return f"<Subscription {self.topic!r} {state}, {self._queue.qsize()} queued>"

    # --- called by the connection ---------------------------------------------

    def _deliver(self, response: Response) -> None:
        try:
            payload = json.loads(response.payload_json or "")
        except ValueError:
            self._conn.forget(self._rid, cancel=True)
            text = f"{response.payload_json!r:.200}"
            self._end(
                SyncError(f"sync service sent a payload that is not JSON: {text}"), cancelled=False
            )
            return
        self._queue.put_nowait(payload)

    def _end(self, error: SyncError, *, cancelled: bool) -> None:
        if self._error is None:
            self._error, self._cancelled = error, cancelled
            self._queue.put_nowait(_END)

    def _cancel_now(self) -> None:
        if self._error is None:
            self._conn.forget(self._rid, cancel=True)
            self._end(
                SyncError(f"the subscription to {self.topic!r} was cancelled"), cancelled=True
            )


class SyncClient:
    """An asyncio client of the sync service, over one websocket.

    Connect with ``client = await SyncClient.connect(runenv)`` (close it with
    ``await client.close()``) or ``async with SyncClient.connect(runenv) as client:``; the
    form mirrors ``websockets.connect``. With a :class:`RunEnv`, states and topics are scoped
    to the run; ``SyncClient.connect(host, port, scope=(run, plan, case))`` connects without
    one (``scope=None`` uses names unscoped). Calls must be made from the event loop the
    client was connected on. An error answer raises :class:`SyncError` with the service's
    message; a lost connection fails every call in progress, and every later one, with
    :class:`SyncError`.
    """

    def __init__(self, conn: Connection, scope: Scope | None) -> None:
        """Use :meth:`connect`."""
        self._conn = conn
        self._scope = scope
        self._loop = asyncio.get_running_loop()
        self._closed = False
        self._events_topic = run_events_key(*scope) if scope else RUN_EVENTS
        self._events_in_flight: set[asyncio.Future[Response]] = set()
        self._event_errors: list[str] = []

    @staticmethod
    def connect(
        where: RunEnv | str,
        port: int | None = None,
        *,
        scope: Scope | None = None,
        timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
    ) -> Connecting:
        """Connect to the sync service named by ``runenv`` (``SYNC_SERVICE_HOST``/``PORT``),
        or at ``host`` and ``port``. Raises :class:`SyncError` when it cannot be reached
        within ``timeout`` seconds. Await the result, or use it with ``async with``."""
        if isinstance(where, RunEnv):
            if port is not None or scope is not None:
                raise TypeError("connect(runenv) takes its address and scope from the RunEnv")
            env = where.vars
            return Connecting(env.sync_service_host, env.sync_service_port, where.scope, timeout)
        return Connecting(where, DEFAULT_SYNC_PORT if port is None else port, scope, timeout)

    # --- states --------------------------------------------------------------

    async def signal_entry(self, state: str) -> int:
        """Increment ``state``'s counter; return its new value (this instance's place)."""
        response = await self._conn.request(SignalEntry(self._state(state)))
        return _seq(response, "signal_entry")

    async def barrier(self, state: str, target: int, *, timeout: float | None = None) -> None:
        """Wait until ``state``'s counter reaches ``target``. Raises ``TimeoutError`` after
        ``timeout`` seconds, and withdraws the barrier from the service."""
        try:
            async with asyncio.timeout(timeout):
                await self._conn.request(Barrier(self._state(state), target), cancellable=True)
        except TimeoutError:
            raise TimeoutError(
                f"barrier {state!r} did not reach {target} within {timeout} s"
            ) from None

    async def signal_and_wait(
        self, state: str, target: int, *, timeout: float | None = None
    ) -> int:
        """:meth:`signal_entry` then :meth:`barrier`; return the entry's sequence number."""
        seq = await self.signal_entry(state)
        await self.barrier(state, target, timeout=timeout)
        return seq

    # --- topics ----------------------------------------------------------------

    async def publish(self, topic: str, payload: Any) -> int:
        """Append ``payload`` (anything JSON can encode) to ``topic``; return its sequence
        number on the topic, from 1."""
        return _seq(await self._conn.request(Publish(self._topic(topic), payload)), "publish")

    async def subscribe(self, topic: str) -> Subscription:
        """Start receiving ``topic``: its whole history first, then new payloads."""
        sub = Subscription(self._conn, topic)
        sub._rid, _ = self._conn.send(Subscribe(self._topic(topic)), listener=sub)
        return sub

    async def publish_and_wait(
        self, topic: str, payload: Any, state: str, target: int, *, timeout: float | None = None
    ) -> int:
        """:meth:`publish`, then :meth:`barrier` on ``state`` (no entry is signalled)."""
        seq = await self.publish(topic, payload)
        await self.barrier(state, target, timeout=timeout)
        return seq

    async def publish_subscribe(self, topic: str, payload: Any) -> tuple[int, Subscription]:
        """:meth:`publish`, then :meth:`subscribe` to the same topic (both sent at once)."""
        _, future = self._conn.send(Publish(self._topic(topic), payload))
        sub = await self.subscribe(topic)
        assert future is not None
        try:
            return _seq(await future, "publish"), sub
        except BaseException:
            sub._cancel_now()
            raise

    # --- events ----------------------------------------------------------------

    async def signal_event(self, event: Event) -> int:
        """Publish ``event`` on the run's ``run_events`` topic, where the runner reads outcomes."""
        response = await self._conn.request(Publish(self._events_topic, event.to_payload()))
        return _seq(response, "publish")

    def _submit_event(self, event: Event) -> None:
        """Publish ``event`` without waiting, from any thread; :meth:`close` waits for it."""
        if self._closed:
            return
        try:
            if _running_loop() is self._loop:
                self._publish_event_now(event)
            else:
                self._loop.call_soon_threadsafe(self._publish_event_now, event)
        except RuntimeError:  # the loop is already closed: stdout still has the event
            pass

    def _publish_event_now(self, event: Event) -> None:
        try:
            _, future = self._conn.send(Publish(self._events_topic, event.to_payload()))
        except SyncError as exc:
            self._event_errors.append(str(exc))
            return
        assert future is not None
        self._events_in_flight.add(future)
        future.add_done_callback(self._event_done)

    def _event_done(self, future: asyncio.Future[Response]) -> None:
        self._events_in_flight.discard(future)
        error = None if future.cancelled() else future.exception()
        if error is not None:
            self._event_errors.append(str(error))

    # --- lifecycle ---------------------------------------------------------------

    async def close(self) -> None:
        """Wait (a bounded time) for recorded events to be published, then close the
        connection: pending calls fail with :class:`SyncError`, subscriptions end."""
        if self._closed:
            return
        self._closed = True
        if self._events_in_flight:
            try:
                async with asyncio.timeout(EVENT_FLUSH_TIMEOUT):
                    await asyncio.wait(set(self._events_in_flight))
            except TimeoutError:
                self._event_errors.append(f"no answer within {EVENT_FLUSH_TIMEOUT} s")
        await self._conn.close()
        if self._event_errors:
            print(
                f"choreograph.sdk: events not published on {self._events_topic} "
                f"(they are on stdout): {'; '.join(dict.fromkeys(self._event_errors))}",
                file=sys.stderr,
                flush=True,
            )

    async def __aenter__(self) -> SyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def statistics(self) -> dict[str, int]:
        """Counters for debugging: frames, pending requests, subscriptions, events."""
        return {
            **self._conn.statistics(),
            "events_in_flight": len(self._events_in_flight),
            "events_failed": len(self._event_errors),
        }

    def __repr__(self) -> str:
        state = "closed" if self._conn.closed else "open"
        return f"<SyncClient {self._conn.address} {state}>"

    def _state(self, state: str) -> str:
        return state_key(*self._scope, state) if self._scope else state

    def _topic(self, topic: str) -> str:
        return topic_key(*self._scope, topic) if self._scope else topic


class Connecting:
    """What :meth:`SyncClient.connect` returns: await it, or enter it with ``async with``."""

    def __init__(self, host: str, port: int, scope: Scope | None, timeout: float | None) -> None:
        self._args = (host, port, scope, timeout)
        self._client: SyncClient | None = None

    async def _open(self) -> SyncClient:
        host, port, scope, timeout = self._args
        return SyncClient(await Connection.open(host, port, timeout=timeout), scope)

    def __await__(self) -> Generator[Any, None, SyncClient]:
        return self._open().__await__()

    async def __aenter__(self) -> SyncClient:
        self._client = await self._open()
        return self._client

    async def __aexit__(self, *exc_info: object) -> None:
        if self._client is not None:
            await self._client.close()


def _seq(response: Response, op: str) -> int:
    if response.seq is None:
        raise SyncError(f"the sync service answered {op} without a seq")
    return response.seq


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
