"""Who may connect: the optional bearer token, and when a listening address requires one.

Whoever reaches the sync service can publish an instance's outcome and release or stall every
barrier of the run. On loopback (the default, and what ``choreo run`` uses) only this host can;
anywhere else the network can, so a standalone service that listens beyond loopback must be
given a token, and then refuses every websocket handshake that does not carry it (HTTP 401).

The token travels as ``Authorization: Bearer <token>`` or, for clients that cannot set
headers, as the query parameter ``?token=<token>``. Testground's own SDKs (sdk-go, sdk-js, the
Rust crate) send neither, so token mode serves remote tools and clients that can; runs of
unmodified Testground plans use the tokenless loopback (or per-run namespace) service.

A service that must serve both — the one ``cluster:k8s`` runs inside the cluster, reached
by the run's pods (Testground's SDKs, no token) and by the host engine (token) — names
the networks its instances connect from (``tokenless`` networks, the run's pod addresses):
a handshake from there passes without the token, any other needs it.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable, Sequence
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

TOKEN_ENV = "CHOREO_SYNC_TOKEN"
"""The environment variable a standalone service reads its token from."""

ProcessRequest = Callable[[ServerConnection, Request], Response | None]


def is_loopback(host: str) -> bool:
    """Whether listening on ``host`` is reachable from this machine only (127/8, ::1,
    ``localhost``). Wildcards (``0.0.0.0``, ``::``, ``""``) and other names are not."""
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def listen_problem(host: str, token: str | None) -> str | None:
    """Why the service must not listen on ``host`` with ``token`` (``None`` when it may)."""
    if token or is_loopback(host):
        return None
    shown = host or "every interface"
    return (
        f"refusing to listen on {shown} without a token: anyone who can reach it could publish"
        f" outcomes and release barriers; pass --token (or set {TOKEN_ENV}), or listen on"
        " 127.0.0.1"
    )


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(texts: Sequence[str]) -> tuple[Network, ...]:
    """``10.244.0.0/16``-style networks (a bare address is a /32 or /128); ValueError
    naming the one that is not."""
    out = []
    for text in texts:
        try:
            out.append(ipaddress.ip_network(text.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{text!r} is not a network such as 10.244.0.0/16") from None
    return tuple(out)


def from_networks(address: str, networks: Sequence[Network]) -> bool:
    """Whether the peer ``address`` lies in one of ``networks``."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)


def presents_token(request: Request, token: str) -> bool:
    """Whether the request carries ``token`` (header or query), compared in constant time."""
    expected = token.encode()
    return any(hmac.compare_digest(given.encode(), expected) for given in _presented(request))


def peer_host(connection: ServerConnection) -> str:
    address = connection.remote_address
    return str(address[0]) if address else ""


def require_token(
    token: str,
    on_reject: Callable[[], None] | None = None,
    tokenless: Sequence[Network] = (),
) -> ProcessRequest:
    """A websockets ``process_request`` hook that answers 401 to a handshake without ``token``
    (calling ``on_reject``, to count it), unless it comes from a ``tokenless`` network."""
    if not token:
        raise ValueError("the sync service token must not be empty")

    def check(connection: ServerConnection, request: Request) -> Response | None:
        if presents_token(request, token):
            return None
        if tokenless and from_networks(peer_host(connection), tokenless):
            return None
        if on_reject is not None:
            on_reject()
        response = connection.respond(
            HTTPStatus.UNAUTHORIZED,
            "this sync service needs a token: send 'Authorization: Bearer <token>'"
            " or connect to ws://host:port/?token=<token>\n",
        )
        response.headers["WWW-Authenticate"] = 'Bearer realm="choreograph sync service"'
        return response

    return check


def _presented(request: Request) -> list[str]:
    """Every token the handshake offers (header and query), for a constant-time comparison."""
    given = []
    for value in request.headers.get_all("Authorization"):
        scheme, _, credentials = value.partition(" ")
        if scheme.lower() == "bearer":
            given.append(credentials.strip())
    given += parse_qs(urlsplit(request.path).query).get("token", [])
    return given
