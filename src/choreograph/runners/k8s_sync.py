"""The run's sync service inside its cluster (``sync_service = "cluster"``), and the
engine's face of it.

:func:`deploy` builds (or reuses) Choreograph's own image
(:mod:`choreograph.containers.sync_image`), brings it to the cluster like any plan image,
and creates the run's Secret, Deployment and Service (:mod:`choreograph.cluster.
sync_manifests`) in the run's namespace; it returns once the service's pod is ready.
Instances are told that pod's address (and ``testground-sync-service`` resolves to it):
nothing outside the cluster is on their path, so a cluster this host cannot route to works
as well as the local one. The pod's, not the Service's cluster IP: kube-proxy programs a
new Service's rules some time after its endpoint is ready, and an instance that dialled in
that window was refused (sdk-go's ``MustBoundClient`` panicked: a crashed run, seen here);
a pod address is routable the moment the pod is ready. The Service stays as the run's
stable name for people and tools (``kubectl port-forward svc/sync-service``).

:class:`RemoteSync` is what the engine follows instead of its own service: the run's
``run_events`` over a websocket, and the service's progress (barriers waited on, how much
was published, refused publishes) from its stats endpoint — both with the run's token,
either straight to the pod (``sync_access = "direct"``, when this host routes to pods) or
through the API server's pod proxy (``apiserver``), which any conformant cluster offers
to whoever may use its API. A publisher's address is not known through the proxy, so
outcomes are not checked against their origin (as Testground does not).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK, InvalidHandshake

from choreograph.cluster import podstatus
from choreograph.cluster import sync_manifests as manifests
from choreograph.cluster.config import K8sConfig
from choreograph.cluster.kube import Kube
from choreograph.errors import RunnerError, SyncError
from choreograph.runners.k8s_images import ensure_images
from choreograph.sync_service.server import STATS_PATH
from choreograph.wire.sync import Request, Subscribe, decode_response, encode_request

log = logging.getLogger("choreograph.runners")

READY_S = 120.0
"""How long the service's pod may take to be ready (scheduling, image, start)."""
POLL_S = 1.0
RECONNECT_S = 0.5
STATS_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Access:
    """How this host reaches the service: a base URL (``http://pod:port`` or the API
    server's proxy path), TLS and headers for it, and the token."""

    base: str
    token: str
    context: ssl.SSLContext | None = None
    headers: tuple[tuple[str, str], ...] = ()

    def url(self, path: str, query: Sequence[tuple[str, str]] = ()) -> str:
        return f"{self.base}{path}?{urlencode([*query, ('token', self.token)])}"

    def websocket(self) -> str:
        scheme, _, rest = self.url("/").partition("://")
        return ("wss" if scheme == "https" else "ws") + "://" + rest


async def deploy(
    kube: Kube,
    namespace: str,
    run_id: str,
    config: K8sConfig,
    *,
    port: int,
    tokenless: Sequence[str],
    history_mib: int,
    direct: bool,
    note: Callable[[str], None],
) -> RemoteSync:
    """Create the run's sync service in ``namespace`` and wait until it is ready."""
    from choreograph.containers.sync_image import sync_service_image

    image = await sync_service_image(note)
    images = await ensure_images([image], config, note)
    token = secrets.token_urlsafe(24)
    body = manifests.deployment_manifest(
        run_id,
        images[image],
        port,
        tokenless,
        cpu=config.sync_service_cpu,
        memory=config.sync_service_memory,
        history_mib=history_mib,
    )
    core, apps = kube.core, kube.apps
    try:
        await kube.call(core.create_namespaced_secret, namespace, manifests.secret_manifest(token))
        await kube.call(apps.create_namespaced_deployment, namespace, body)
        service = await kube.call(
            core.create_namespaced_service, namespace, manifests.service_manifest(run_id, port)
        )
    except Exception as exc:
        raise RunnerError(f"cluster:k8s: cannot create the run's sync service: {exc}") from exc
    note(f"sync service: waiting for its pod in {namespace}")
    pod_name, pod_ip = await _ready_pod(kube, namespace, run_id)
    cluster_ip = str(service.spec.cluster_ip)
    if direct:
        access = Access(f"http://{_host(pod_ip)}:{port}", token)
    else:
        raw = kube.raw_access()
        path = f"/api/v1/namespaces/{quote(namespace)}/pods/{quote(pod_name)}:{port}/proxy"
        access = Access(raw.url + path, token, raw.ssl, tuple(raw.headers.items()))
    note(
        f"sync service: pod {pod_name} at {pod_ip}:{port} (service {cluster_ip}), "
        f"followed {access.base}"
    )
    return RemoteSync((pod_ip, port), access)


async def _ready_pod(kube: Kube, namespace: str, run_id: str) -> tuple[str, str]:
    """The name and IP of the service's pod once it is ready; RunnerError with the reason
    it is waiting when that takes longer than :data:`READY_S`."""
    selector = ",".join(f"{k}={v}" for k, v in manifests.selector(run_id).items())
    stop = asyncio.Event()
    waiting = "not created yet"
    try:
        async with asyncio.timeout(READY_S):
            async for _, pod in kube.watch(namespace, selector, stop):
                waiting = _waiting(pod) or waiting
                ip = podstatus.status(pod).get("podIP")
                if ip and podstatus.is_true(pod, "Ready"):
                    return podstatus.name(pod), str(ip)
    except TimeoutError:
        raise RunnerError(
            f"cluster:k8s: the run's sync service was not ready after {READY_S:g} s ({waiting})"
        ) from None
    finally:
        stop.set()
    raise RunnerError("cluster:k8s: the watch of the sync service's pod ended")


def _waiting(pod: podstatus.Pod) -> str:
    for status in podstatus.container_statuses(pod):
        state = (status.get("state") or {}).get("waiting") or {}
        if state.get("reason"):
            return f"{state['reason']}: {state.get('message') or ''}".strip(": ")
    placing = podstatus.condition(pod, "PodScheduled")
    if placing is not None and placing.get("status") != "True":
        return f"unscheduled: {placing.get('message') or placing.get('reason')}"
    return ""


def _host(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip


class RemoteSync:
    """The engine's face of the run's service in the cluster (see the module docstring):
    the same calls as the in-process service, the progress ones answered from the last
    stats read (every :data:`POLL_S`)."""

    def __init__(self, address: tuple[str, int], access: Access) -> None:
        self._address = address
        self._access = access
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),  # straight to the pod or API server
            urllib.request.HTTPSHandler(context=access.context),
        )
        self._last: dict[str, Any] = {"waits": [], "refusals": [], "statistics": {}}
        self._poller: asyncio.Task[None] | None = None
        self.reconnects = 0

    @property
    def address(self) -> tuple[str, int]:
        return self._address

    async def start(self, host: str = "", port: int = 0) -> tuple[str, int]:
        """Reach the service (the arguments are the engine's listening wish, which a
        service it did not start ignores), then poll its progress."""
        deadline = time.monotonic() + 30
        while True:
            try:
                self._last = await self._stats()
                break
            except SyncError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
        self._poller = asyncio.create_task(self._poll(), name="remote sync stats")
        return self._address

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        with contextlib.suppress(SyncError):
            self._last = await self._stats()  # the refusals as the run ends

    def waits(self, limit: int = 5) -> list[tuple[str, int, int, int]]:
        return [(str(s), int(c), int(t), int(w)) for s, c, t, w in self._last["waits"][:limit]]

    def refusals(self) -> list[str]:
        return [str(line) for line in self._last["refusals"]]

    def statistics(self) -> dict[str, int]:
        return dict(self._last["statistics"])

    async def published_count(self, topic: str) -> int:
        return int((await self._stats((topic,)))["published"].get(topic, 0))

    async def subscribe_with_origin(self, topic: str) -> AsyncIterator[tuple[Any, str | None]]:
        """Every payload of ``topic`` from the first, with no origin (not known here).

        A lost connection (a proxy restarting, the network) is opened again: the service
        replays the topic from its first payload, so the ones already given are skipped
        and nothing is lost or repeated."""
        seen = 0
        while True:
            try:
                async for payload in self._deliveries(topic, skip=seen):
                    seen += 1
                    yield payload, None
            except (OSError, ConnectionClosed, InvalidHandshake) as exc:
                self.reconnects += 1
                log.info("sync service: %s lost (%s); subscribing again", topic, exc)
                await asyncio.sleep(RECONNECT_S)

    async def _deliveries(self, topic: str, skip: int) -> AsyncIterator[Any]:
        async with connect(
            self._access.websocket(),
            ssl=self._access.context if self._access.base.startswith("https") else None,
            additional_headers=list(self._access.headers),
            proxy=None,
            compression=None,
            max_size=None,
            ping_interval=None,
        ) as ws:
            await ws.send(encode_request(Request("1", Subscribe(topic))))
            async for frame in ws:
                response = decode_response(frame)
                if response.error:
                    raise SyncError(f"sync service: subscription to {topic}: {response.error}")
                if response.payload_json is None:
                    continue
                if skip:
                    skip -= 1
                    continue
                yield json.loads(response.payload_json)
        raise ConnectionClosedOK(None, None)  # the service ended the subscription

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(POLL_S)
            with contextlib.suppress(SyncError):
                self._last = await self._stats()

    async def _stats(self, topics: Sequence[str] = ()) -> dict[str, Any]:
        query = [("waits", "10"), *(("topic", t) for t in topics)]
        request = urllib.request.Request(
            self._access.url(STATS_PATH, query), headers=dict(self._access.headers)
        )

        def get() -> dict[str, Any]:
            try:
                with self._opener.open(request, timeout=STATS_TIMEOUT_S) as answer:
                    found: dict[str, Any] = json.loads(answer.read())
                    return found
            except (OSError, ValueError) as exc:  # URLError, HTTPError, bad JSON
                raise SyncError(f"sync service stats ({self._access.base}): {exc}") from exc

        return await asyncio.to_thread(get)
