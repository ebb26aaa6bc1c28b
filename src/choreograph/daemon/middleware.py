"""The daemon's ASGI middleware: a bearer token on every request when tokens are set
(routes, downloads, logs, unknown paths alike: a 401 says nothing about what exists),
and the limit on a request's size (413)."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from choreograph.daemon.auth import Tokens, is_public, wants_page
from choreograph.daemon.uploads import MIB


class Authenticate:
    """Sets ``request.state.submitter`` to the token's name (``local`` without tokens);
    when tokens are set and the request carries none of them: a browser asking for a page
    is sent to ``/login``, anything else gets 401 (the login form and static files are
    served to anyone, with submitter "")."""

    def __init__(self, app: ASGIApp, tokens: Tokens) -> None:
        self.app, self.tokens = app, tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k: v.decode("latin-1") for k, v in scope["headers"]}
        who = self.tokens.who(headers.get(b"authorization", ""), headers.get(b"cookie"))
        path = scope.get("path", "")
        if who is None and is_public(path):
            who = ""  # the login form and static files: nobody yet
        elif who is None and wants_page(scope.get("method", ""), path, headers.get(b"accept", "")):
            await _redirect(send, "/login?" + urlencode({"next": _here(scope)}))
            return
        if who is None:
            await _reply(
                send,
                401,
                "missing or unknown bearer token (send Authorization: Bearer <token>)",
                [(b"www-authenticate", b"Bearer")],
            )
            return
        scope.setdefault("state", {})["submitter"] = who
        await self.app(scope, receive, send)


class _TooLarge(BaseException):
    """The body went over the limit. A BaseException so that no ``except Exception`` in
    form parsing turns it into a 400 on the way out."""


class BodyLimit:
    """ASGI middleware: a request whose body is larger than ``max_bytes`` gets 413 with a
    message naming the limit, whether it says its length up front or streams it."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._refuse(send)
            return
        seen = 0
        started = False

        async def counting() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting, tracking)
        except _TooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        limit = f"{self.max_bytes / MIB:.3g} MiB"
        message = f"request larger than the upload limit of {limit} (--max-upload-mib)"
        await _reply(send, 413, message, [(b"connection", b"close")])


async def _reply(send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]]) -> None:
    body = json.dumps({"detail": detail}).encode()
    start = [(b"content-type", b"application/json"), *headers]
    await send({"type": "http.response.start", "status": status, "headers": start})
    await send({"type": "http.response.body", "body": body})


def _here(scope: Scope) -> str:
    query = scope.get("query_string", b"").decode("latin-1")
    return str(scope.get("path", "/")) + (f"?{query}" if query else "")


async def _redirect(send: Send, location: str) -> None:
    headers = [(b"location", location.encode("latin-1")), (b"cache-control", b"no-store")]
    await send({"type": "http.response.start", "status": 303, "headers": headers})
    await send({"type": "http.response.body", "body": b""})
