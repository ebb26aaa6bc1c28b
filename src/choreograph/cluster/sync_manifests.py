"""The sync service of a run inside its cluster, as plain manifests: a Secret with the
run's token, a Deployment of one replica of Choreograph's own image
(:mod:`choreograph.containers.sync_image`) and a ClusterIP Service in front of it.

A Deployment rather than a bare pod so that the cluster, not ``choreo``, keeps it running
where the run's pods are; one replica because the service holds the run's state in
memory (a second replica would be a second, disjoint sync service). Its pods carry their
own label, not the run label the runner's watch selects instance pods by. The token is the
engine's key (stats, and a websocket from outside the pods' network); the run's instances
— Testground's SDKs, which cannot send one — connect from the ``tokenless`` networks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from choreograph.cluster.pods import MANAGED_LABEL, MANAGER, run_tag

NAME = "sync-service"
SECRET = "sync-service-token"
TOKEN_KEY = "token"
LABEL = "choreograph.io/sync-service"
CONTAINER = "sync-service"


def selector(run_id: str) -> dict[str, str]:
    return {LABEL: run_tag(run_id)}


def secret_manifest(token: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": SECRET, "labels": {MANAGED_LABEL: MANAGER}},
        "type": "Opaque",
        "stringData": {TOKEN_KEY: token},
    }


def deployment_manifest(
    run_id: str,
    image: str,
    port: int,
    tokenless: Sequence[str],
    *,
    cpu: str,
    memory: str,
    history_mib: int,
) -> dict[str, Any]:
    args = ["--host", "0.0.0.0", "--port", str(port), "--history-budget-mib", str(history_mib)]
    for network in tokenless:
        args += ["--tokenless-from", network]
    labels = {**selector(run_id), MANAGED_LABEL: MANAGER}
    container = {
        "name": CONTAINER,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "args": args,
        "env": [
            {
                "name": "CHOREO_SYNC_TOKEN",
                "valueFrom": {"secretKeyRef": {"name": SECRET, "key": TOKEN_KEY}},
            }
        ],
        "ports": [{"name": "sync", "containerPort": port, "protocol": "TCP"}],
        "readinessProbe": {"tcpSocket": {"port": port}, "periodSeconds": 1},
        "resources": {"requests": {"cpu": cpu, "memory": memory}},
        "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": NAME, "labels": labels},
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": selector(run_id)},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [container],
                    "enableServiceLinks": False,
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": 2,
                },
            },
        },
    }


def service_manifest(run_id: str, port: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": NAME, "labels": {MANAGED_LABEL: MANAGER}},
        "spec": {
            "type": "ClusterIP",
            "selector": selector(run_id),
            "ports": [{"name": "sync", "port": port, "targetPort": port, "protocol": "TCP"}],
        },
    }
