"""The sync service: a websocket listener and an in-process face over the same topics and states.

:class:`SyncService` owns the registries of topics and states and the websocket server; each
accepted websocket is served by a :class:`~choreograph.sync_service.connection.Connection`.
The host engine calls the same registries directly (``publish``, ``subscribe``,
``subscribe_with_origin``, ``signal_entry``, ``wait_barrier``), so an in-process call and a
websocket request are one implementation with one behaviour. A service belongs to one run:
its history is bounded by a budget, and ``stop()`` drops it. :func:`main` serves it
standalone (``choreo sync-service`` does the same through the CLI).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import json
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from http import HTTPStatus
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from choreograph import eventloop
from choreograph.errors import HostError, SyncError
from choreograph.sync_service.auth import (
    TOKEN_ENV,
    Network,
    listen_problem,
    parse_networks,
    presents_token,
    require_token,
)
from choreograph.sync_service.budget import (
    DEFAULT_BUDGET_HINT,
    DEFAULT_HISTORY_BUDGET_BYTES,
    HistoryBudget,
)
from choreograph.sync_service.connection import Connection, Tally
from choreograph.sync_service.states import States
from choreograph.sync_service.topics import Topic, Topics
from choreograph.sync_service.websocket import SyncWebSocket
from choreograph.wire.sync import MAX_FRAME_BYTES

log = logging.getLogger("choreograph.sync_service")

TRANSPORT_SLACK = 4
"""The websocket layer accepts frames up to this many times our limit.

websockets closes the connection (1009) on a frame above its ``max_size``; frames between our
limit and that ceiling reach us and get an ``error`` response instead, connection kept. Beyond
it the close protects the service's memory from a runaway peer.
"""

STATS_PATH = "/choreograph/stats"
"""Where a remote engine reads what an in-process one asks directly (see SyncService)."""

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

    ``token``: when set, a websocket handshake must carry it (``Authorization: Bearer
    <token>`` or ``?token=<token>``) or is answered 401. Testground's SDKs (sdk-go, sdk-js,
    the Rust crate) cannot send one, so local runs leave it unset and listen where only their
    instances can reach; the token is for a service reachable from a network.

    ``history_budget_bytes``: the most the stored history (every topic's payloads, as held in
    memory) may take; a publish that would exceed it is refused (see
    :data:`~choreograph.sync_service.budget.DEFAULT_HISTORY_BUDGET_BYTES` for the default's
    reasoning) and reported by :meth:`refusals`. ``budget_hint`` ends the refusal's message:
    it tells the publisher's author how to raise the budget where this service was started.

    ``tokenless``: networks whose peers need no token (the run's instances, when the service
    also serves a remote engine with the token; see :mod:`.auth`).

    ``GET /choreograph/stats`` (with the token, when there is one) answers what the engine
    reads in-process — ``statistics``, ``waits`` (``?waits=N``), ``published`` (per
    ``?topic=T``, repeatable) and ``refusals`` — as JSON: an engine following a service it
    did not start (``cluster:k8s`` runs it in the cluster) reads its progress from there.
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        tokenless: Sequence[Network] = (),
        history_budget_bytes: int = DEFAULT_HISTORY_BUDGET_BYTES,
        budget_hint: str = DEFAULT_BUDGET_HINT,
        max_frame_bytes: int = MAX_FRAME_BYTES,
    ) -> None:
        self._max_frame_bytes = max_frame_bytes
        self._token = token
        self._check = (
            require_token(token, on_reject=self._tally_rejection, tokenless=tokenless)
            if token is not None
            else None
        )
        self._budget = HistoryBudget(history_budget_bytes, budget_hint)
        self._topics = Topics(self._budget)
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
                process_request=self._process_request,
                # Reads the data frames of open connections itself (see .websocket).
                create_connection=SyncWebSocket,
            )
        except OSError as exc:
            # A port in use is the host's problem, not bad input (exit status 4).
            kind = HostError if exc.errno == errno.EADDRINUSE else SyncError
            raise kind(f"sync service cannot listen on {host}:{port}: {exc}") from exc
        bound = self._server.sockets[0].getsockname()
        self._address = (str(bound[0]), int(bound[1]))
        log.info("sync service listening on %s:%d", *self._address)
        return self._address

    async def stop(self) -> None:
        """Close every connection and the listener; end in-process subscriptions and barriers;
        drop every topic's history and every state, so that their memory is returned.

        Idempotent. In-process subscriptions end (what they had not read yet is gone with the
        history); in-process barriers still waiting raise :class:`SyncError`. ``refusals()``
        and the request counters of ``statistics()`` stay readable.
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
            ws,
            self._topics,
            self._states,
            self._tally,
            max_frame_bytes=self._max_frame_bytes,
            frame_ceiling=self._max_frame_bytes * TRANSPORT_SLACK,
        )
        self._connections.add(connection)
        try:
            await connection.serve()
        finally:
            self._connections.discard(connection)

    # --- in-process API (the host engine) ---------------------------------------

    async def publish(self, topic: str, payload: Any) -> int:
        """Publish ``payload`` (any JSON value) on ``topic``; return its sequence number.

        Raises :class:`SyncError` when the payload is not JSON, or when storing it would
        exceed the history budget (the refusal is also counted in :meth:`refusals`).
        """
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

    def subscribe_with_origin(self, topic: str) -> AsyncIterator[tuple[Any, str | None]]:
        """Like :meth:`subscribe`, each payload paired with the host that published it.

        The host is the peer address of the websocket that carried the publish (an IP
        address), ``None`` for in-process publishes. Where each instance has an address of its
        own (``local:netns``), the engine can tell which instance published what, and refuse
        an outcome one instance published for another.
        """
        return _decoded_with_origin(self._topics.get(topic))

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

    def waits(self, limit: int = 5) -> list[tuple[str, int, int, int]]:
        """The barriers being waited on, most waiters first: ``(state, signalled so far,
        target, barriers waiting)`` (see :meth:`States.waits`)."""
        return self._states.waits(limit)

    def refusals(self) -> list[str]:
        """Warning lines about publishes this service refused because its history budget was
        full (how many, how many bytes, which topics, how to raise it): empty when none was,
        else one line, for the run to show at its end. The count is also in
        ``statistics()["refused_publishes"]``."""
        line = self._budget.describe_refusals()
        return [line] if line else []

    def statistics(self) -> dict[str, int]:
        """Counts for debugging: connections, topics, messages, subscriptions, states,
        waiting_barriers, history_bytes (charged to the budget), history_budget_bytes,
        refused_publishes, requests (websocket), errors (refused requests) and
        rejected_handshakes (no or wrong token)."""
        return {
            "connections": len(self._connections),
            **self._topics.statistics(),
            **self._states.statistics(),
            "history_bytes": self._budget.used,
            "history_budget_bytes": self._budget.total,
            "refused_publishes": self._budget.refused,
            "requests": self._tally.requests,
            "errors": self._tally.errors,
            "rejected_handshakes": self._tally.rejected_handshakes,
        }

    def _tally_rejection(self) -> None:
        self._tally.rejected_handshakes += 1

    async def published_count(self, topic: str) -> int:
        """:meth:`published`, with the face a remote service has (it must ask)."""
        return self.published(topic)

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Before a handshake: the stats endpoint answers here; everything else passes the
        token check (when there is one) and becomes a websocket."""
        target = urlsplit(request.path)
        if target.path == STATS_PATH:
            return self._stats(connection, request, parse_qs(target.query))
        return self._check(connection, request) if self._check is not None else None

    def _stats(
        self, connection: ServerConnection, request: Request, query: dict[str, list[str]]
    ) -> Response:
        if self._token is not None and not presents_token(request, self._token):
            self._tally_rejection()
            return connection.respond(HTTPStatus.UNAUTHORIZED, "the stats need the token\n")
        try:
            limit = int(query.get("waits", ["5"])[0])
        except ValueError:
            return connection.respond(HTTPStatus.BAD_REQUEST, "waits: expected a number\n")
        body = {
            "statistics": self.statistics(),
            "waits": [list(w) for w in self.waits(max(limit, 0))],
            "published": {t: self.published(t) for t in query.get("topic", [])},
            "refusals": self.refusals(),
        }
        response = connection.respond(HTTPStatus.OK, json.dumps(body) + "\n")
        response.headers["Content-Type"] = "application/json"
        return response


async def _decoded(topic: Topic) -> AsyncIterator[Any]:
    async with contextlib.aclosing(topic.follow()) as entries:
        async for entry in entries:
            yield entry.payload()


async def _decoded_with_origin(topic: Topic) -> AsyncIterator[tuple[Any, str | None]]:
    async with contextlib.aclosing(topic.follow()) as entries:
        async for entry in entries:
            yield entry.payload(), entry.origin


MIB = 1024 * 1024


def main(argv: Sequence[str] | None = None) -> None:
    """Serve standalone: ``python -m choreograph.sync_service [--host H] [--port P] [--token T]
    [--history-budget-mib N]`` (or ``-m choreograph.sync_service.server``); exits 2 when asked
    to listen beyond loopback without a token."""
    parser = argparse.ArgumentParser(description="Choreograph's sync service (Testground's).")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=5050, help="port to listen on (0: any)")
    parser.add_argument(
        "--token",
        default=os.environ.get(TOKEN_ENV) or None,
        help=f"token clients must present (default: ${TOKEN_ENV}); required beyond loopback",
    )
    parser.add_argument(
        "--tokenless-from",
        action="append",
        default=[],
        metavar="CIDR",
        help="network whose peers need no token (repeatable; the run's instances)",
    )
    parser.add_argument(
        "--history-budget-mib",
        type=int,
        default=DEFAULT_HISTORY_BUDGET_BYTES // MIB,
        help="most memory the stored history may take, in MiB",
    )
    args = parser.parse_args(argv)
    problem = listen_problem(args.host, args.token)
    tokenless: tuple[Network, ...] = ()
    try:
        tokenless = parse_networks(args.tokenless_from)
    except ValueError as exc:
        problem = f"--tokenless-from: {exc}"
    if tokenless and not args.token:
        problem = "--tokenless-from exempts networks from a token: give --token too"
    if problem:
        parser.exit(2, f"error: {problem}\n")
    serve_standalone(args.host, args.port, args.token, args.history_budget_mib, tokenless)


def serve_standalone(
    host: str,
    port: int,
    token: str | None,
    history_budget_mib: int,
    tokenless: Sequence[Network] = (),
) -> None:
    """Serve until Ctrl-C, logging to stderr (``main`` and ``choreo sync-service``)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    service = SyncService(
        token=token,
        tokenless=tokenless,
        history_budget_bytes=history_budget_mib * MIB,
        budget_hint="restart the sync service with a larger --history-budget-mib",
    )
    eventloop.run(_serve_until_signalled(service, host, port))
    for line in service.refusals():
        print(f"warning: sync service {line}", file=sys.stderr)


async def _serve_until_signalled(service: SyncService, host: str, port: int) -> None:
    """Serve until SIGINT or SIGTERM, then stop cleanly. Handlers are installed explicitly:
    a process started in the background of a script inherits SIGINT ignored, and Ctrl-C
    would never reach Python's default handler."""
    loop = asyncio.get_running_loop()
    serving = asyncio.ensure_future(service.serve_forever(host, port))
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, serving.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await serving


if __name__ == "__main__":
    main()
