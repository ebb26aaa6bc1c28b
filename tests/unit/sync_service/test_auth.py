"""When the service must have a token, and how a handshake presents one."""

from __future__ import annotations

import pytest
from websockets.datastructures import Headers
from websockets.http11 import Request

from choreograph.sync_service.auth import is_loopback, listen_problem, require_token


@pytest.mark.parametrize("host", ["127.0.0.1", "127.3.2.1", "::1", "localhost", "::ffff:127.0.0.1"])
def test_loopback_addresses_need_no_token(host):
    assert is_loopback(host)
    assert listen_problem(host, None) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "10.1.2.3", "16.0.0.1", "fe80::1", "box"])
def test_any_other_address_needs_a_token(host):
    assert not is_loopback(host)
    problem = listen_problem(host, None)
    assert problem is not None
    assert "--token" in problem and "CHOREO_SYNC_TOKEN" in problem and "127.0.0.1" in problem
    assert listen_problem(host, "s3cret") is None


class Answered:
    """Stands in for the ServerConnection: records the response the hook asks for."""

    def respond(self, status, text):
        from websockets.http11 import Response

        return Response(int(status), status.phrase, Headers(), text.encode())


def _request(path: str = "/", **headers: str) -> Request:
    return Request(path, Headers(headers))


@pytest.mark.parametrize(
    "request_",
    [
        _request(Authorization="Bearer s3cret"),
        _request(Authorization="bearer  s3cret"),
        _request("/?token=s3cret"),
        _request("/?other=1&token=s3cret", Authorization="Bearer wrong"),
    ],
)
def test_the_token_is_accepted_from_the_header_or_the_query(request_):
    assert require_token("s3cret")(Answered(), request_) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "request_",
    [
        _request(),
        _request(Authorization="Bearer wrong"),
        _request(Authorization="Basic s3cret"),
        _request("/?token=s3cre"),
        _request("/?token="),
    ],
)
def test_anything_else_is_answered_401(request_):
    rejected = []
    response = require_token("s3cret", on_reject=lambda: rejected.append(1))(
        Answered(),  # type: ignore[arg-type]
        request_,
    )
    assert response is not None and response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert rejected == [1]


def test_an_empty_token_is_refused():
    with pytest.raises(ValueError, match="empty"):
        require_token("")
