"""The runner's one door to the API server: the official ``kubernetes`` client, its
blocking calls run in threads behind a bound on how many are in flight at once, and
watches turned into async iterators.

Why threads and not an async client: the official client is the maintained one; a run
makes one call per pod to create it, one to read its log, one exec to read its outputs and
one to delete it, so the bound (``api_concurrency``) — not the threading — limits the rate,
and keeps a run of thousands from flooding the API server's priority-and-fairness queues.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import json
import ssl
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from choreograph.cluster.podstatus import Pod
from choreograph.errors import RunnerError

T = TypeVar("T")
RETRY_ATTEMPTS = 6
RETRIED_STATUSES = (429, 500, 503, 504)
WATCH_TIMEOUT_S = 240
"""A watch is re-opened this often (the server ends it anyway), from where it stopped."""
WATCH_RETRIES = 5
"""Broken watch streams in a row re-opened (after 1, 2, 4, 8, 8 s) before the run fails."""


def _import() -> Any:
    try:
        import kubernetes
    except ImportError as exc:  # pragma: no cover - the [k8s] extra
        raise RunnerError(
            "cluster:k8s needs the kubernetes client: pip install 'choreograph[k8s]'"
        ) from exc
    return kubernetes


def problems(kubeconfig: str) -> list[str]:
    """What prevents talking to a cluster, without calling it."""
    try:
        _import()
    except RunnerError as exc:
        return [str(exc)]
    if not kubeconfig:
        return [
            'no kubeconfig: set KUBECONFIG, [runners."cluster:k8s"] kubeconfig, or bring '
            "up the local cluster with scripts/k8s-local.sh up"
        ]
    return []


class Kube:
    """One cluster, through one API client."""

    def __init__(self, kubeconfig: str, context: str = "", concurrency: int = 16) -> None:
        kubernetes = _import()
        configuration = kubernetes.client.Configuration()
        try:
            kubernetes.config.load_kube_config(
                config_file=kubeconfig, context=context or None, client_configuration=configuration
            )
        except Exception as exc:
            raise RunnerError(f"cluster:k8s: cannot load kubeconfig {kubeconfig}: {exc}") from exc
        # As many kept connections and threads as calls allowed in flight: with the
        # defaults (a pool of cpu x 5, the loop's executor of cpu + 4 threads) the bound
        # was 6 here whatever api_concurrency said (bench/k8s_control.py: 92 pods/s at
        # 16 configured, 164 with 16 really in flight).
        configuration.connection_pool_maxsize = max(concurrency, 1)
        self.api_client = kubernetes.client.ApiClient(configuration)
        self.core = kubernetes.client.CoreV1Api(self.api_client)
        self.apps = kubernetes.client.AppsV1Api(self.api_client)
        self._configuration = configuration
        self._kubernetes = kubernetes
        self._bound = asyncio.Semaphore(concurrency)
        self._threads = ThreadPoolExecutor(max(concurrency, 1), thread_name_prefix="kube")

    def raw_access(self) -> RawAccess:
        """What a client other than the official one needs to reach the API server as
        this one does: a websocket through the API server's pod proxy (the in-cluster
        sync service, when its pod cannot be routed to from here)."""
        c = self._configuration
        context = ssl.create_default_context(cafile=c.ssl_ca_cert or None)
        if not c.verify_ssl:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if c.cert_file:
            context.load_cert_chain(c.cert_file, c.key_file or None)
        headers = {}
        if auth := c.get_api_key_with_prefix("authorization"):
            headers["Authorization"] = auth
        return RawAccess(str(c.host).rstrip("/"), context, headers)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.api_client.close()
        self._threads.shutdown(wait=False, cancel_futures=True)

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` in a thread of this client's, at most ``concurrency``
        at once."""
        async with self._bound:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._threads, functools.partial(fn, *args, **kwargs))

    async def call_retrying(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """:meth:`call`, again after a pause when the API server answers "too many
        requests" or is briefly unavailable (429, 500, 503, 504: API priority and fairness
        sheds load this way at thousands of creates); its ``Retry-After`` is honoured, up
        to :data:`RETRY_ATTEMPTS` calls in all."""
        delay = 0.5
        for attempt in range(1, RETRY_ATTEMPTS + 1):
            try:
                return await self.call(fn, *args, **kwargs)
            except Exception as exc:
                if attempt == RETRY_ATTEMPTS or not self.is_status(exc, *RETRIED_STATUSES):
                    raise
                await asyncio.sleep(_retry_after(exc) or delay)
                delay = min(delay * 2, 8.0)
        raise AssertionError("unreachable")  # pragma: no cover

    def is_status(self, exc: BaseException, *codes: int) -> bool:
        return isinstance(exc, self._kubernetes.client.ApiException) and exc.status in codes

    def _transient(self, exc: BaseException) -> bool:
        """A failure worth trying again: the connection broke (reset, cut mid-stream,
        refused while the API server restarts) or the server shed load (429, 5xx)."""
        if isinstance(exc, self._kubernetes.client.ApiException):
            return self.is_status(exc, *RETRIED_STATUSES) or exc.status == 0
        import urllib3

        return isinstance(exc, OSError | urllib3.exceptions.HTTPError)

    async def list_pods(self, namespace: str = "", **query: Any) -> tuple[list[Pod], str]:
        """The pods of ``namespace`` (every namespace's if empty) matching ``query``
        (``label_selector``, ``field_selector``), as decoded JSON (see
        :mod:`~choreograph.cluster.podstatus` for why), and the list's resource version."""
        return await self.call(self._pods_now, namespace, **query)

    def _pods_now(self, namespace: str, **query: Any) -> tuple[list[Pod], str]:
        """:meth:`list_pods`, in the calling thread (the watch's lists it from its own)."""
        if namespace:
            response = self.core.list_namespaced_pod(namespace, _preload_content=False, **query)
        else:
            response = self.core.list_pod_for_all_namespaces(_preload_content=False, **query)
        return _pod_list(response.data)

    async def watch(
        self, namespace: str, label_selector: str, stop: asyncio.Event
    ) -> AsyncIterator[tuple[str, Pod]]:
        """``(type, pod)`` for every change of the selected pods, until ``stop`` is set;
        each pod as decoded JSON (:mod:`~choreograph.cluster.podstatus`).

        The watch runs in a thread and is re-opened from the last resource version it saw
        (from a fresh list if the server says that version is too old), so no change is
        lost between two watches. The stream's lines are read here, not through the
        client's ``Watch``: it decodes each pod into model objects, and without them it
        fails on the server's "too old" answer (it looks for a key only its decoding sets)."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Pod] | BaseException] = asyncio.Queue()
        ended = threading.Event()
        streams: list[Any] = []

        def put(item: tuple[str, Pod] | BaseException) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        seen = [""]  # the resource version of the last change passed on (a broken stream)

        def pump() -> None:
            version, failures = "", 0
            while not ended.is_set():
                try:
                    if not version:
                        items, version = self._pods_now(namespace, label_selector=label_selector)
                        for pod in items:
                            put(("ADDED", pod))
                    version = follow(version)
                    failures = 0
                except Exception as exc:
                    if self.is_status(exc, 410):
                        version = ""
                        continue
                    if ended.is_set():
                        return
                    if self._transient(exc) and failures < WATCH_RETRIES:
                        failures += 1
                        version = seen[0] or version  # go on from the last change passed on
                        ended.wait(min(0.5 * 2**failures, 8.0))
                        continue
                    put(exc)
                    return

        def follow(version: str) -> str:
            """Pass on the changes after ``version`` until the server ends the watch;
            the version to go on from ("" to list again)."""
            response = self.core.list_namespaced_pod(
                namespace,
                label_selector=label_selector,
                resource_version=version,
                timeout_seconds=WATCH_TIMEOUT_S,
                allow_watch_bookmarks=True,
                watch=True,
                _preload_content=False,
            )
            streams.append(response)
            try:
                for line in self._kubernetes.watch.watch.iter_resp_lines(response):
                    if ended.is_set():
                        break
                    if not line:
                        continue
                    event = json.loads(line)
                    kind, obj = event.get("type"), event.get("object") or {}
                    if kind == "ERROR":
                        if obj.get("code") == 410:
                            return ""  # too old: list again
                        raise RunnerError(f"{obj.get('reason')}: {obj.get('message')}")
                    version = seen[0] = _resource_version(obj) or version
                    if kind != "BOOKMARK":
                        put((str(kind), obj))
            finally:
                streams.remove(response)
                with contextlib.suppress(Exception):
                    response.close()
            return version

        thread = threading.Thread(target=pump, name=f"watch {namespace}", daemon=True)
        thread.start()
        waiter = asyncio.ensure_future(stop.wait())
        try:
            while True:
                getter = asyncio.ensure_future(queue.get())
                await asyncio.wait({getter, waiter}, return_when=asyncio.FIRST_COMPLETED)
                if waiter.done():  # stopped: nothing more, even if more came meanwhile
                    getter.cancel()
                    return
                item = getter.result()
                if isinstance(item, BaseException):
                    raise RunnerError(f"cluster:k8s: watching pods of {namespace}: {item}")
                yield item
        finally:
            ended.set()
            waiter.cancel()
            for response in list(streams):  # wakes the thread's read at once
                with contextlib.suppress(Exception):
                    response.shutdown()

    async def exec_output(self, namespace: str, pod: str, container: str, argv: list[str]) -> bytes:
        """What ``argv`` prints on stdout in a running container (base64 on the wire:
        the exec stream is text)."""

        def run() -> bytes:
            # An exec swaps its API client's request method for a websocket while it
            # runs, so it gets a client of its own: shared, it turned concurrent
            # calls of other threads into websocket handshakes.
            own = self._kubernetes.client.ApiClient(self._configuration)
            try:
                return _exec(own)
            finally:
                own.close()

        def _exec(own: Any) -> bytes:
            stream = self._kubernetes.stream.stream
            client = stream(
                self._kubernetes.client.CoreV1Api(own).connect_get_namespaced_pod_exec,
                pod,
                namespace,
                container=container,
                command=["sh", "-c", f"{' '.join(argv)} | base64"],
                stdout=True,
                stderr=True,
                stdin=False,
                tty=False,
                _preload_content=False,
            )
            out: list[str] = []
            err: list[str] = []
            try:
                while client.is_open():
                    client.update(timeout=5)
                    if client.peek_stdout():
                        out.append(client.read_stdout())
                    if client.peek_stderr():
                        err.append(client.read_stderr())
                out.append(client.read_stdout() if client.peek_stdout() else "")
            finally:
                client.close()
            if err and not out:
                raise RunnerError("".join(err).strip())
            return base64.b64decode("".join(out))

        return await self.call(run)


def undecoded(fn: Callable[..., Any]) -> Callable[..., bytes]:
    """``fn`` (a client call) returning the answer's bytes, never decoded into model
    objects: for calls whose answer the runner does not read (creates, deletes), where
    decoding a pod cost more than sending it. Errors still raise ``ApiException``."""

    def call(*args: Any, **kwargs: Any) -> bytes:
        data: bytes = fn(*args, _preload_content=False, **kwargs).data
        return data

    return call


@dataclass(frozen=True)
class RawAccess:
    url: str
    """``https://host:port`` of the API server."""
    ssl: ssl.SSLContext
    headers: dict[str, str]


def _retry_after(exc: BaseException) -> float:
    """Seconds the server asked to wait (``Retry-After``), at most 30; 0 when it did not."""
    headers = getattr(exc, "headers", None) or {}
    try:
        return min(max(float(headers.get("Retry-After", 0)), 0.0), 30.0)
    except (TypeError, ValueError):
        return 0.0


def _pod_list(data: bytes) -> tuple[list[Pod], str]:
    """The items and resource version of a ``PodList``'s JSON."""
    decoded = json.loads(data)
    return list(decoded.get("items") or []), _resource_version(decoded)


def _resource_version(obj: Pod) -> str:
    """A watched object's resource version (its JSON; a bookmark carries nothing else)."""
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")
