"""A run's namespace on Kubernetes, from before anything of the run exists in the cluster
to after the last of it is gone.

It is opened while the run is being placed — before the sync service, which may live in
it (``sync_service = "cluster"``) — and removed when placement ends, whatever happened in
between: even a run stopped before its first pod (a ``[[services]]`` entry that failed)
leaves nothing behind. The run's host lock is held the whole time, so a ``healthcheck
--fix`` or a next run never takes a live run's namespace for a dead one's.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

from choreograph.cluster import pods as manifests
from choreograph.cluster.config import K8sConfig
from choreograph.cluster.kube import Kube
from choreograph.errors import RunnerError
from choreograph.runners.k8s_cleanup import dead_runs, delete_namespaces, owner_host, run_lock

NAMESPACE_GONE_S = 120.0


@contextlib.asynccontextmanager
async def run_namespace(
    kube: Kube, config: K8sConfig, run_id: str, note: Callable[[str], None]
) -> AsyncIterator[str]:
    """The run's namespace, created (dead runs' swept first) and, at the end, removed
    (kept with ``keep_service``); yields its name."""
    lock = run_lock(manifests.run_tag(run_id), run_id)
    lock.acquire()
    try:
        dead = await dead_runs(kube)
        if dead:
            note(f"removing {len(dead)} namespace(s) of dead runs: {', '.join(dead.values())}")
            await delete_namespaces(kube, list(dead), wait_s=0)
        name = manifests.namespace_name(config.namespace_prefix, run_id)
        body = manifests.namespace_manifest(name, run_id, owner_host(), keep=config.keep_service)
        try:
            await kube.call(kube.core.create_namespace, body)
        except Exception as exc:
            raise RunnerError(f"cluster:k8s: cannot create namespace {name}: {exc}") from exc
        note(f"namespace {name}")
        try:
            yield name
        finally:
            await _remove(kube, config, name, note)
    finally:
        lock.release()


async def _remove(kube: Kube, config: K8sConfig, name: str, note: Callable[[str], None]) -> None:
    if config.keep_service:
        note(f"kept namespace {name} (keep_service)")
        return
    left = await delete_namespaces(kube, [name], NAMESPACE_GONE_S)
    if left:
        note(f"namespace {name} still terminating after {NAMESPACE_GONE_S:g} s")
