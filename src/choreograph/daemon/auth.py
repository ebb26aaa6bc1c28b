"""Who may talk to the daemon. Listening on loopback needs no token by default; any other
address needs tokens, or the daemon refuses to start. Tokens come from a file of
``name token`` lines (``--tokens-file``) or ``CHOREO_DAEMON_TOKENS="name:token,..."``.
With tokens configured every route, downloads and logs included, needs
``Authorization: Bearer <token>``, or the ``choreo_token`` cookie the dashboard's
``/login`` sets (a browser's ``EventSource`` and links cannot send a header, and a token
in a query string would end up in logs and history); the token's name is recorded as
the submitter.
Tokens are compared in constant time, every token each time, so timing tells nothing
about which one nearly matched.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import socket
from pathlib import Path

from choreograph.errors import InputError

LOCAL = "local"
ENV = "CHOREO_DAEMON_TOKENS"
COOKIE = "choreo_token"
PUBLIC = ("/login", "/static/")
"""Paths served without a token: the login form and the dashboard's own CSS and JS,
which hold no task data."""


class Tokens:
    def __init__(self, by_name: dict[str, str]) -> None:
        self._pairs = [(name, token.encode()) for name, token in by_name.items()]

    @property
    def required(self) -> bool:
        return bool(self._pairs)

    def names(self) -> list[str]:
        return [name for name, _ in self._pairs]

    def who(self, authorization: str | None, cookie: str | None = None) -> str | None:
        """The name of the token in ``Authorization: Bearer <token>`` or, without that
        header, in the ``choreo_token`` cookie of a ``Cookie`` header; None if none
        matches (``local`` when no tokens are configured)."""
        if not self._pairs:
            return LOCAL
        scheme, _, given = (authorization or "").partition(" ")
        offered = given.strip().encode() if scheme.lower() == "bearer" else b""
        if not authorization and cookie:
            offered = cookie_token(cookie).encode()
        found = None
        for name, token in self._pairs:
            if hmac.compare_digest(offered, token) and found is None:
                found = name
        return found


def cookie_token(header: str) -> str:
    """The ``choreo_token`` value of a ``Cookie`` header ("" without one)."""
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name == COOKIE:
            return value.strip().strip('"')
    return ""


def is_public(path: str) -> bool:
    return path == PUBLIC[0] or path.startswith(PUBLIC[1])


def wants_page(method: str, path: str, accept: str) -> bool:
    """A browser navigating to a dashboard page (sent to ``/login`` rather than given a
    bare 401); API calls and scripts' fetches get the 401."""
    return method in ("GET", "HEAD") and not path.startswith("/api/") and "text/html" in accept


def load_tokens(tokens_file: Path | None) -> Tokens:
    """Tokens from ``tokens_file`` and the environment; InputError naming the file and
    line of a malformed entry."""
    by_name: dict[str, str] = {}
    if tokens_file is not None:
        try:
            lines = tokens_file.read_text().splitlines()
        except OSError as exc:
            raise InputError(f"--tokens-file {tokens_file}: cannot read it ({exc})") from None
        for number, line in enumerate(lines, 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            parts = text.split()
            if len(parts) != 2:
                raise InputError(f"{tokens_file}:{number}: expected 'name token', found {text!r}")
            by_name[parts[0]] = parts[1]
    for entry in filter(None, (e.strip() for e in os.environ.get(ENV, "").split(","))):
        name, sep, token = entry.partition(":")
        if not (sep and name and token):
            raise InputError(f"{ENV}: expected name:token entries, found {entry.split(':')[0]!r}:…")
        by_name[name] = token
    for name, token in by_name.items():
        if len(token) < 16:
            raise InputError(f"token {name!r} is shorter than 16 characters; use a longer one")
    return Tokens(by_name)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and names that resolve only to them (``localhost``)."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def check_listen(host: str, tokens: Tokens) -> None:
    """Refuse to listen beyond loopback without tokens."""
    if not is_loopback(host) and not tokens.required:
        raise InputError(
            f"--listen {host}: listening beyond loopback needs tokens; give --tokens-file "
            f"FILE (lines 'name token') or {ENV}=name:token"
        )
