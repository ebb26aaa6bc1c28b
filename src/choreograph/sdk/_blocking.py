"""The blocking face of the sync client, for plans written without ``async``.

It owns an event loop running in one background thread and forwards every call to a
:class:`~choreograph.sdk.SyncClient` on that loop (``asyncio.run_coroutine_threadsafe``), so
there is one implementation of the protocol and the blocking face only waits. Closing stops
the loop and joins the thread: nothing is left running.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from types import TracebackType
from typing import Any, TypeVar

from choreograph.errors import SyncError
from choreograph.sdk._runenv import RunEnv
from choreograph.sdk._sync import DEFAULT_CONNECT_TIMEOUT, Scope, Subscription, SyncClient
from choreograph.wire.events import Event

T = TypeVar("T")


class BlockingSubscription:
    """A :class:`Subscription` read from blocking code.

    ``sub.get(timeout=...)`` (or ``next(sub)``) reads one payload; ``for payload in sub``
    loops until the subscription ends and cancels it when the loop is left (``break``,
    exception). ``close()`` and leaving ``with sub`` cancel it too.
    """

    def __init__(self, client: BlockingSyncClient, sub: Subscription) -> None:
        self.topic = sub.topic
        self._client = client
        self._sub = sub

    def get(self, timeout: float | None = None) -> Any:
        """The next payload; ``TimeoutError`` after ``timeout`` seconds; :class:`SyncError`
        once the subscription has ended."""
        return self._client._call(self._sub.get(timeout))

    def __next__(self) -> Any:
        try:
            return self.get()
        except SyncError:
            if self._sub._cancelled:
                raise StopIteration from None
            raise

    def __iter__(self) -> Iterator[Any]:
        try:
            while True:
                try:
                    item = next(self)
                except StopIteration:
                    return
                yield item
        finally:
            self.close()

    def close(self) -> None:
        """Cancel the subscription. Idempotent; a no-op once the client is closed."""
        if not self._client._closed:
            self._client._call(self._sub.cancel())

    def __enter__(self) -> BlockingSubscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<BlockingSubscription {self.topic!r}>"


class BlockingSyncClient:
    """The sync client for plain (non-``async``) code: the same calls as
    :class:`SyncClient`, each blocking until the service answers.

    ``with BlockingSyncClient.connect(runenv) as client:`` (or call ``close()``). Calls may
    come from any thread. ``async_client`` is the :class:`SyncClient` it forwards to, running
    on the client's own loop in a background thread.
    """

    def __init__(
        self, core: SyncClient, loop: asyncio.AbstractEventLoop, thread: threading.Thread
    ) -> None:
        """Use :meth:`connect`."""
        self.async_client = core
        self._loop = loop
        self._thread = thread
        self._closed = False

    @classmethod
    def connect(
        cls,
        where: RunEnv | str,
        port: int | None = None,
        *,
        scope: Scope | None = None,
        timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
    ) -> BlockingSyncClient:
        """Connect as :meth:`SyncClient.connect` does, on a new background loop."""
        connecting = SyncClient.connect(where, port, scope=scope, timeout=timeout)
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="choreograph-sync", daemon=True)
        thread.start()
        try:
            core = asyncio.run_coroutine_threadsafe(connecting._open(), loop).result()
        except BaseException:
            _stop(loop, thread)
            raise
        return cls(core, loop, thread)

    def signal_entry(self, state: str) -> int:
        """See :meth:`SyncClient.signal_entry`."""
        return self._call(self.async_client.signal_entry(state))

    def barrier(self, state: str, target: int, *, timeout: float | None = None) -> None:
        """See :meth:`SyncClient.barrier`."""
        self._call(self.async_client.barrier(state, target, timeout=timeout))

    def signal_and_wait(self, state: str, target: int, *, timeout: float | None = None) -> int:
        """See :meth:`SyncClient.signal_and_wait`."""
        return self._call(self.async_client.signal_and_wait(state, target, timeout=timeout))

    def publish(self, topic: str, payload: Any) -> int:
        """See :meth:`SyncClient.publish`."""
        return self._call(self.async_client.publish(topic, payload))

    def subscribe(self, topic: str) -> BlockingSubscription:
        """See :meth:`SyncClient.subscribe`."""
        return BlockingSubscription(self, self._call(self.async_client.subscribe(topic)))

    def publish_and_wait(
        self, topic: str, payload: Any, state: str, target: int, *, timeout: float | None = None
    ) -> int:
        """See :meth:`SyncClient.publish_and_wait`."""
        return self._call(
            self.async_client.publish_and_wait(topic, payload, state, target, timeout=timeout)
        )

    def publish_subscribe(self, topic: str, payload: Any) -> tuple[int, BlockingSubscription]:
        """See :meth:`SyncClient.publish_subscribe`."""
        seq, sub = self._call(self.async_client.publish_subscribe(topic, payload))
        return seq, BlockingSubscription(self, sub)

    def signal_event(self, event: Event) -> int:
        """See :meth:`SyncClient.signal_event`."""
        return self._call(self.async_client.signal_event(event))

    def statistics(self) -> dict[str, int]:
        """See :meth:`SyncClient.statistics`."""
        return self.async_client.statistics()

    def close(self) -> None:
        """Close the client (waiting for recorded events), stop its loop, join its thread."""
        if self._closed:
            return
        try:
            self._call(self.async_client.close())
        finally:
            self._closed = True
            _stop(self._loop, self._thread)

    def __enter__(self) -> BlockingSyncClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<BlockingSyncClient of {self.async_client!r}>"

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the client's loop and wait for it; an interrupt cancels it."""
        if self._closed:
            coro.close()
            raise SyncError("the sync client is closed")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # e.g. KeyboardInterrupt while waiting: withdraw the call
            raise


def _stop(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    loop.call_soon_threadsafe(loop.stop)
    thread.join()
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()
