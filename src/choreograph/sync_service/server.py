"""The sync service: a websocket listener and an in-process face over the same topics and states.

:class:`SyncService` owns the registries of topics and states and the websocket server; each
accepted websocket is served by a :class:`~choreograph.sync_service.connection.Connection`.
The host engine calls the same registries directly (``publish``, ``subscribe``,
``signal_entry``, ``wait_barrier``), so an in-process call and a websocket request are one
implementation with one behaviour. :func:`main` serves it standalone (``choreo sync-service``
does the same through the CLI).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Sequence
from types import TracebackType
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve

from choreograph.errors import SyncError
from choreograph.sync_service.connection import Connection, Tally
from choreograph.sync_service.states import States
from choreograph.sync_service.topics import Topic, Topics
from choreograph.wire.sync import MAX_FRAME_BYTES

log = logging.getLogger("choreograph.sync_service")

TRANSPORT_SLACK = 4
"""The websocket layer accepts frames up to this many times our limit.

websockets closes the connection (1009) on a frame above its ``max_size``; frames between our
limit and that ceiling reach us and get an ``error`` response instead, connection kept. Beyond
it the close protects the service's memory from a runaway peer.
"""

LISTEN_BACKLOG = 4096

CLOSE_TIMEOUT_S = 2.0
"""How long stop() waits for peers to complete the closing handshake before dropping them."""


class SyncService:
    """Testground's sync service: topics (pub/sub with full history) and states (barriers).

    Serve it over websockets with :meth:`start` (or ``async with SyncService() as service``,
    which listens on a free port of 127.0.0.1), and use it in-process at the same time::

        async with SyncService() as service:
            host, port = service.address        # give these to instances
            await service.publish("topic", {"hello": 1})
            async for payload in service.subscribe("topic"):
                ...
    """

    def __init__(self, *, max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        self._max_frame_bytes = max_frame_bytes
        self._topics = Topics()
        self._states = States()
        self._tally = Tally()
        self._connections: set[Connection] = set()
        self._server: Server | None = None
        self._address: tuple[str, int] | None = None
        self._stopped = False

    # --- lifecycle -------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Listen on ``host:port`` (port 0: a free one); return the address actually bound."""
        if self._server is not None or self._stopped:
            raise RuntimeError("a SyncService starts once (create a new one after stop())")
        try:
            self._server = await serve(
                self._serve_connection,
                host,
                port,
                max_size=self._max_frame_bytes * TRANSPORT_SLACK,
                # Small JSON frames: deflate would cost more CPU than it saves on loopback.
                compression=None,
                # No keepalive pings: an instance busy in CPU-bound code for a while is not
                # dead, and Testground's service does not ping either.
                ping_interval=None,
                close_timeout=CLOSE_TIMEOUT_S,
                # A whole run's instances connect at once; asyncio's default backlog (100)
                # would drop SYNs and stall some of them for a retransmit second.
                backlog=LISTEN_BACKLOG,
            )
        except OSError as exc:
            raise SyncError(f"sync service cannot listen on {host}:{port}: {exc}") from exc
        bound = self._server.sockets[0].getsockname()
        self._address = (str(bound[0]), int(bound[1]))
        log.info("sync service listening on %s:%d", *self._address)
        return self._address

    async def stop(self) -> None:
        """Close every connection and the listener; end in-process subscriptions and barriers.

        Idempotent. In-process subscriptions finish after delivering what was published;
        in-process barriers still waiting raise :class:`SyncError`.
        """
        self._stopped = True
        server, self._server = self._server, None
        if server is not None:
            server.close()  # the listener, then every connection (close code 1001)
            try:
                async with asyncio.timeout(CLOSE_TIMEOUT_S):
                    await server.wait_closed()
            except TimeoutError:
                # websockets waits, without a deadline, to write the close frame to a peer that
                # stopped reading: drop such peers so that stop() always ends.
                log.warning("dropping %d connections that did not close", len(self._connections))
                for connection in list(self._connections):
                    connection.abort()
                await server.wait_closed()
            log.info("sync service stopped: %s", self.statistics())
        self._topics.close()
        self._states.close()

    async def __aenter__(self) -> SyncService:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) the service listens on; only once started."""
        if self._address is None:
            raise RuntimeError("the sync service is not started")
        return self._address

    async def serve_forever(self, host: str, port: int) -> None:
        """Listen on ``host:port`` until cancelled (Ctrl-C under ``asyncio.run``), then stop."""
        await self.start(host, port)
        try:
            await asyncio.Future()
        finally:
            await self.stop()

    async def _serve_connection(self, ws: ServerConnection) -> None:
        connection = Connection(
            ws, self._topics, self._states, self._tally, max_frame_bytes=self._max_frame_bytes
        )
        self._connections.add(connection)
        try:
            await connection.serve()
        finally:
            self._connections.discard(connection)

    # --- in-process API (the host engine) ---------------------------------------

    async def publish(self, topic: str, payload: Any) -> int:
        """Publish ``payload`` (any JSON value) on ``topic``; return its sequence number."""
        try:
            return self._topics.get(topic).publish(payload)
        except (TypeError, ValueError) as exc:
            raise SyncError(f"payload for topic {topic!r} is not JSON: {exc}") from exc

    def subscribe(self, topic: str) -> AsyncIterator[Any]:
        """Every payload published on ``topic``, from the first, then live ones, decoded.

        Runs until the consumer stops iterating (``aclose()``, ``break``, cancellation) or
        the service stops.
        """
        return _decoded(self._topics.get(topic))

    def published(self, topic: str) -> int:
        """How many payloads ``topic`` holds: lets an in-process reader tell when it has
        caught up with everything published so far."""
        return len(self._topics.get(topic))

    async def signal_entry(self, state: str) -> int:
        """Increment ``state``'s counter; return the new count."""
        return self._states.get(state).signal_entry()

    async def wait_barrier(self, state: str, target: int) -> None:
        """Return once ``state``'s counter reaches ``target`` (at once for 0 or when reached)."""
        if target < 0:
            raise ValueError(f"barrier target must be >= 0, got {target}")
        await self._states.get(state).wait(target)

    def statistics(self) -> dict[str, int]:
        """Counts for debugging: connections, topics, messages, subscriptions, states,
        waiting_barriers, requests (websocket) and errors (refused requests)."""
        return {
            "connections": len(self._connections),
            **self._topics.statistics(),
            **self._states.statistics(),
            "requests": self._tally.requests,
            "errors": self._tally.errors,
        }


async def _decoded(topic: Topic) -> AsyncIterator[Any]:
    # Each reader decodes its own copy: a consumer mutating a payload cannot affect others.
    async with contextlib.aclosing(topic.follow()) as entries:
        async for entry in entries:
            yield json.loads(entry.text)


def main(argv: Sequence[str] | None = None) -> None:
    """Serve standalone: ``python -m choreograph.sync_service.server [--host H] [--port P]``."""
    parser = argparse.ArgumentParser(description="Choreograph's sync service (Testground's).")
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on")
    parser.add_argument("--port", type=int, default=5050, help="port to listen on (0: any)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(SyncService().serve_forever(args.host, args.port))


if __name__ == "__main__":
    main()
