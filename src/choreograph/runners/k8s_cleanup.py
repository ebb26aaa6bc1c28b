"""What ``cluster:k8s`` leaves in a cluster, and removing it. Everything of a run is in
its namespace, so cleaning up is deleting namespaces: a run's own at its end, dead runs'
(the next run's start, ``choreo healthcheck --fix``), all of them (``choreo terminate
--runner cluster:k8s``).

A run is alive while its ``choreo`` holds the run's lock on the host that owns it (the
namespace says which host): a lock file under :data:`STATE_DIR` with an ``flock``, which
the kernel drops when the process dies, ``kill -9`` included. Namespaces of other hosts'
runs are never swept as dead from here (only ``terminate`` removes them).
"""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from typing import Any

from choreograph.cluster.kube import Kube, undecoded
from choreograph.cluster.pods import (
    KEEP_ANNOTATION,
    MANAGED_LABEL,
    MANAGER,
    OWNER_HOST_ANNOTATION,
    RUN_ID_ANNOTATION,
    RUN_LABEL,
)
from choreograph.net.cleanup import RunLock, is_live

STATE_DIR = Path("/run/choreograph/k8s")


def owner_host() -> str:
    return socket.gethostname()


def run_lock(tag: str, run_id: str) -> RunLock:
    return RunLock(tag, run_id, STATE_DIR)


async def run_namespaces(kube: Kube) -> list[Any]:
    selector = f"{MANAGED_LABEL}={MANAGER},{RUN_LABEL}"
    return list((await kube.call(kube.core.list_namespace, label_selector=selector)).items)


async def dead_runs(kube: Kube) -> dict[str, str]:
    """Namespace → run id, for runs owned by this host whose ``choreo`` is gone (kept
    namespaces, ``keep_service``, are left alone)."""
    found: dict[str, str] = {}
    for ns in await run_namespaces(kube):
        notes = ns.metadata.annotations or {}
        if ns.status.phase == "Terminating" or notes.get(KEEP_ANNOTATION) == "true":
            continue
        tag = (ns.metadata.labels or {}).get(RUN_LABEL, "")
        if notes.get(OWNER_HOST_ANNOTATION) == owner_host() and not is_live(tag, STATE_DIR):
            found[ns.metadata.name] = notes.get(RUN_ID_ANNOTATION, tag)
    return found


async def delete_namespaces(kube: Kube, names: list[str], wait_s: float) -> list[str]:
    """Delete the namespaces and wait up to ``wait_s`` for them to be gone; the names
    still there.

    The namespace controller deletes a namespace's pods with their own grace period (5 s
    here), whatever grace the namespace's deletion was given, so on a node that is gone the
    pods stay ``Terminating`` and the namespace with them. So once a namespace is marked for
    deletion (no controller can make new pods in it then), its pods are deleted with grace
    0: their objects go at once, and the kubelet of a live node kills their containers."""
    for name in names:
        try:
            await kube.call(undecoded(kube.core.delete_namespace), name, grace_period_seconds=0)
            await kube.call(
                undecoded(kube.core.delete_collection_namespaced_pod),
                name,
                grace_period_seconds=0,
            )
        except Exception as exc:
            if not kube.is_status(exc, 404):
                raise
    deadline = time.monotonic() + wait_s
    left = list(names)
    while left and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        present = {ns.metadata.name for ns in (await kube.call(kube.core.list_namespace)).items}
        left = [name for name in left if name in present]
    return left
