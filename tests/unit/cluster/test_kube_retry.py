"""The API client retries what the API server sheds under load (429, 5xx), honouring its
Retry-After, and nothing else."""

from __future__ import annotations

import time
from typing import Any

import pytest

kubernetes = pytest.importorskip("kubernetes")

from choreograph.cluster.kube import RETRY_ATTEMPTS, Kube  # noqa: E402


@pytest.fixture
def kube(kubeconfig: str) -> Any:
    client = Kube(kubeconfig, concurrency=2)
    yield client
    client.close()


def _failing(statuses: list[int], headers: dict[str, str] | None = None) -> Any:
    calls: list[float] = []

    def fn() -> str:
        calls.append(time.monotonic())
        if len(calls) <= len(statuses):
            exc = kubernetes.client.ApiException(status=statuses[len(calls) - 1])
            exc.headers = headers or {}
            raise exc
        return "created"

    fn.calls = calls  # type: ignore[attr-defined]
    return fn


async def test_shed_load_is_retried_until_it_passes(kube: Any) -> None:
    fn = _failing([429, 503], {"Retry-After": "0.2"})
    assert await kube.call_retrying(fn) == "created"
    calls = fn.calls
    assert len(calls) == 3
    assert calls[1] - calls[0] >= 0.19  # the server's Retry-After, not our own 0.5 s


async def test_other_errors_and_the_last_attempt_raise(kube: Any) -> None:
    forbidden = _failing([403])
    with pytest.raises(kubernetes.client.ApiException):
        await kube.call_retrying(forbidden)
    assert len(forbidden.calls) == 1
    always = _failing([429] * RETRY_ATTEMPTS, {"Retry-After": "0.01"})
    with pytest.raises(kubernetes.client.ApiException) as caught:
        await kube.call_retrying(always)
    assert caught.value.status == 429 and len(always.calls) == RETRY_ATTEMPTS
