"""Pods read as the API server sends them (decoded JSON): the accessors the runner reads
them through, the lists and the watch that deliver them, and calls whose answers are
never decoded."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

kubernetes = pytest.importorskip("kubernetes")

from choreograph.cluster import podstatus  # noqa: E402
from choreograph.cluster.kube import Kube, undecoded  # noqa: E402
from choreograph.errors import RunnerError  # noqa: E402
from choreograph.runners.cluster_k8s import _requests  # noqa: E402
from choreograph.runners.k8s_sync import _waiting  # noqa: E402

RUNNING = {
    "metadata": {"name": "p-0", "uid": "u-1", "resourceVersion": "7"},
    "spec": {
        "nodeName": "node-a",
        "containers": [
            {"name": "instance", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}},
            {"name": "collector", "resources": {"requests": {"cpu": "1m"}}},
            {"name": "bare"},
        ],
    },
    "status": {
        "phase": "Running",
        "podIP": "10.0.0.5",
        "conditions": [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Ready", "status": "False"},
        ],
        "containerStatuses": [
            {
                "name": "instance",
                "containerID": "containerd://abc",
                "state": {"running": {"startedAt": "2026-12-01T16:50:00Z"}},
            }
        ],
    },
}


def test_accessors_read_a_pod_as_the_server_sends_it() -> None:
    assert podstatus.name(RUNNING) == "p-0"
    assert podstatus.uid(RUNNING) == "u-1"
    assert podstatus.node_name(RUNNING) == "node-a"
    assert podstatus.is_true(RUNNING, "PodScheduled")
    assert not podstatus.is_true(RUNNING, "Ready")
    assert not podstatus.is_true(RUNNING, "Initialized")  # absent
    status = podstatus.container_status(RUNNING, "instance")
    assert status is not None and status["containerID"] == "containerd://abc"
    assert podstatus.container_status(RUNNING, "collector") is None


def test_a_pod_without_status_or_spec_reads_as_empty() -> None:
    bare: dict[str, Any] = {"metadata": {"name": "p"}, "status": None}
    assert podstatus.conditions(bare) == []
    assert podstatus.container_statuses(bare) == []
    assert podstatus.containers(bare) == []
    assert podstatus.node_name(bare) == ""
    assert podstatus.condition(bare, "PodScheduled") is None
    assert podstatus.uid({}) == ""


def test_timestamps_are_read_as_utc() -> None:
    assert podstatus.timestamp("2026-12-01T16:50:00Z") == 1796143800.0
    assert podstatus.timestamp("2026-12-01T16:50:00.25Z") == 1796143800.25
    assert podstatus.timestamp(None) is None
    assert podstatus.timestamp("") is None


def test_requests_of_a_pod_are_summed_over_its_containers() -> None:
    assert _requests(RUNNING) == {"cpu": "0.101", "memory": str(64 * 2**20)}


def test_why_the_sync_service_pod_waits() -> None:
    pulling = {
        "status": {
            "containerStatuses": [
                {"name": "sync", "state": {"waiting": {"reason": "ErrImagePull", "message": "x"}}}
            ]
        }
    }
    assert _waiting(pulling) == "ErrImagePull: x"
    unplaced = {
        "status": {
            "conditions": [{"type": "PodScheduled", "status": "False", "message": "0/1 nodes"}]
        }
    }
    assert _waiting(unplaced) == "unscheduled: 0/1 nodes"
    assert _waiting(RUNNING) == ""


class _Response:
    """What the client returns without decoding: ``data``, or a stream of chunks."""

    def __init__(self, body: bytes, chunks: list[bytes] | None = None) -> None:
        self.data = body
        self._chunks = chunks or []
        self.closed = False

    def stream(self, amt: Any = None, decode_content: bool = False) -> Iterator[bytes]:
        yield from self._chunks

    def close(self) -> None:
        self.closed = True

    def shutdown(self) -> None:
        self.closed = True


def test_undecoded_asks_for_the_raw_answer_and_returns_its_bytes() -> None:
    seen: dict[str, Any] = {}

    def create(namespace: str, body: dict[str, Any], **kwargs: Any) -> _Response:
        seen.update(kwargs, namespace=namespace)
        return _Response(b'{"kind":"Pod"}')

    assert undecoded(create)("ns", {}) == b'{"kind":"Pod"}'
    assert seen == {"namespace": "ns", "_preload_content": False}


class _Core:
    """``list_namespaced_pod`` as the API server answers: lists, then watches; the first
    watch says its version is too old (410), so the watch must list again."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.streams: list[_Response] = []

    def list_namespaced_pod(self, namespace: str, **query: Any) -> _Response:
        self.calls.append(query)
        assert query["_preload_content"] is False
        if not query.get("watch"):
            version = "10" if len(self.calls) == 1 else "20"
            items = [{**RUNNING, "metadata": {"name": f"p-{version}"}}]
            return _Response(
                json.dumps({"metadata": {"resourceVersion": version}, "items": items}).encode()
            )
        if query["resource_version"] == "10":
            gone = {"type": "ERROR", "object": {"code": 410, "reason": "Expired", "message": "old"}}
            response = _Response(b"", [json.dumps(gone).encode() + b"\n"])
        else:
            events = [
                {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "21"}}},
                {
                    "type": "MODIFIED",
                    "object": {"metadata": {"name": "p-x", "resourceVersion": "22"}},
                },
            ]
            lines = b"".join(json.dumps(e).encode() + b"\n" for e in events)
            response = _Response(b"", [lines[:25], lines[25:]])  # a line split across chunks
        self.streams.append(response)
        return response


def _kube(kubeconfig: str, core: Any) -> Kube:
    kube = Kube(kubeconfig, concurrency=2)
    kube.core = core
    return kube


def test_the_watch_lists_again_when_its_version_is_too_old(kubeconfig: str) -> None:
    core = _Core()
    kube = _kube(kubeconfig, core)

    async def follow() -> list[tuple[str, str]]:
        seen = []
        stop = asyncio.Event()
        async for kind, pod in kube.watch("ns", "run=x", stop):
            seen.append((kind, podstatus.name(pod)))
            if len(seen) == 3:
                stop.set()
        return seen

    try:
        seen = asyncio.run(asyncio.wait_for(follow(), 10))
    finally:
        kube.close()
    assert seen == [("ADDED", "p-10"), ("ADDED", "p-20"), ("MODIFIED", "p-x")]
    watches = [c for c in core.calls if c.get("watch")]
    assert [w["resource_version"] for w in watches[:2]] == ["10", "20"]
    assert all(w["allow_watch_bookmarks"] for w in watches)


def test_a_watch_error_other_than_too_old_ends_the_watch(kubeconfig: str) -> None:
    class Failing(_Core):
        def list_namespaced_pod(self, namespace: str, **query: Any) -> _Response:
            if not query.get("watch"):
                return _Response(b'{"metadata": {"resourceVersion": "1"}, "items": []}')
            error = {"type": "ERROR", "object": {"code": 500, "reason": "Boom", "message": "x"}}
            return _Response(b"", [json.dumps(error).encode() + b"\n"])

    kube = _kube(kubeconfig, Failing())

    async def follow() -> None:
        async for _ in kube.watch("ns", "run=x", asyncio.Event()):
            pass

    try:
        with pytest.raises(RunnerError, match="Boom: x"):
            asyncio.run(asyncio.wait_for(follow(), 10))
    finally:
        kube.close()


def test_a_broken_watch_stream_is_opened_again_from_the_last_change(kubeconfig: str) -> None:
    class Breaking(_Core):
        def list_namespaced_pod(self, namespace: str, **query: Any) -> _Response:
            self.calls.append(query)
            if not query.get("watch"):
                return _Response(b'{"metadata": {"resourceVersion": "1"}, "items": []}')
            event: dict[str, Any] = {
                "type": "ADDED",
                "object": {"metadata": {"name": "p", "resourceVersion": "5"}},
            }
            if len([c for c in self.calls if c.get("watch")]) == 1:
                return _Broken([json.dumps(event).encode() + b"\n"])
            event["type"], event["object"]["metadata"]["resourceVersion"] = "MODIFIED", "6"
            return _Response(b"", [json.dumps(event).encode() + b"\n"])

    core = Breaking()
    kube = _kube(kubeconfig, core)

    async def follow() -> list[str]:
        seen, stop = [], asyncio.Event()
        async for kind, _ in kube.watch("ns", "run=x", stop):
            seen.append(kind)
            if len(seen) == 2:
                stop.set()
        return seen

    try:
        assert asyncio.run(asyncio.wait_for(follow(), 10)) == ["ADDED", "MODIFIED"]
    finally:
        kube.close()
    watches = [c["resource_version"] for c in core.calls if c.get("watch")]
    assert watches[:2] == ["1", "5"]  # not listed again: nothing lost, nothing twice


class _Broken(_Response):
    def __init__(self, chunks: list[bytes]) -> None:
        super().__init__(b"", chunks)

    def stream(self, amt: Any = None, decode_content: bool = False) -> Iterator[bytes]:
        yield from super().stream(amt, decode_content)
        raise ConnectionResetError("connection reset by peer")
