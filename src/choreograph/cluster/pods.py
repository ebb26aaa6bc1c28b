"""The objects a run creates in Kubernetes, as plain manifests: its namespace and one pod
per instance.

Everything of a run lives in its own namespace, so deleting the namespace removes all of
it whatever happened to the run; the namespace carries who owns it (host and run tag), so
a later ``choreo healthcheck --fix`` on that host can tell a dead run's namespace from a
live one. A pod has two containers: ``instance`` (the group's image, Testground's
``TEST_*`` environment) and ``collector``, a small container that only sleeps and shares
the outputs volume, so the runner can read an instance's outputs after the instance has
ended and before the pod is deleted — no shared file system needed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

RUN_LABEL = "choreograph.io/run"
"""The run's tag (a label value cannot hold every run id): on the namespace and pods."""
INSTANCE_LABEL = "choreograph.io/instance"
GROUP_LABEL = "choreograph.io/group"
MANAGED_LABEL = "app.kubernetes.io/managed-by"
MANAGER = "choreograph"
RUN_ID_ANNOTATION = "choreograph.io/run-id"
OWNER_HOST_ANNOTATION = "choreograph.io/owner-host"
KEY_ANNOTATION = "choreograph.io/instance-key"
KEEP_ANNOTATION = "choreograph.io/keep"

INSTANCE_CONTAINER = "instance"
COLLECTOR_CONTAINER = "collector"
OUTPUTS_PATH = "/outputs"
TEMP_PATH = "/temp"
TAG_LENGTH = 10


def run_tag(run_id: str) -> str:
    """A short, DNS-safe name for a run (its namespace's suffix and its label value)."""
    return hashlib.sha256(run_id.encode()).hexdigest()[:TAG_LENGTH]


def namespace_name(prefix: str, run_id: str) -> str:
    return f"{prefix}-{run_tag(run_id)}"


def pod_name(key: str) -> str:
    """``group/3`` → ``group-3``, made a DNS-1123 label; a hash keeps names that had to
    be shortened or changed apart from each other."""
    group, _, index = key.rpartition("/")
    base = re.sub(r"[^a-z0-9-]+", "-", group.lower()).strip("-") or "group"
    name = f"{base}-{index}"
    if name != key.replace("/", "-") or len(name) > 63:
        digest = hashlib.sha256(key.encode()).hexdigest()[:6]
        name = f"{base[: 63 - len(index) - 8].strip('-')}-{digest}-{index}"
    return name


def label_value(text: str) -> str:
    """A label value made of ``text``: at most 63 of ``[A-Za-z0-9_.-]``, alphanumeric ends."""
    value = re.sub(r"[^A-Za-z0-9_.-]+", "-", text)[:63].strip("-_.")
    return value


def namespace_manifest(name: str, run_id: str, owner_host: str, *, keep: bool) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {RUN_LABEL: run_tag(run_id), MANAGED_LABEL: MANAGER},
            "annotations": {
                RUN_ID_ANNOTATION: run_id,
                OWNER_HOST_ANNOTATION: owner_host,
                **({KEEP_ANNOTATION: "true"} if keep else {}),
            },
        },
    }


@dataclass(frozen=True)
class PodRequest:
    """One instance's pod, as the runner decided it."""

    key: str
    group: str
    image: str
    command: Sequence[str]
    env: Mapping[str, str]
    cpu: str
    memory: str
    collector_image: str
    collector_cpu: str = "1m"
    collector_memory: str = "4Mi"
    cpu_limit: str = ""
    memory_limit: str = ""
    sysctls: Mapping[str, str] = field(default_factory=dict)
    ports: Mapping[str, str] = field(default_factory=dict)
    hostname: str = ""
    host_aliases: Mapping[str, str] = field(default_factory=dict)
    """Name → IP in the pod's ``/etc/hosts`` (Testground's sync service name)."""
    deadline_s: int = 0
    """``activeDeadlineSeconds`` (0: none): the cluster ends a pod that outlives it."""


def pod_manifest(run_id: str, request: PodRequest) -> dict[str, Any]:
    """The pod of one instance. ``restartPolicy: Never``: an instance runs once, and its
    exit code is its fact; ``enableServiceLinks: false``: the environment is exactly
    Testground's contract, not every service of the namespace."""
    requests = {"cpu": request.cpu, "memory": request.memory}
    limits = {k: v for k, v in (("cpu", request.cpu_limit), ("memory", request.memory_limit)) if v}
    instance: dict[str, Any] = {
        "name": INSTANCE_CONTAINER,
        "image": request.image,
        "imagePullPolicy": "IfNotPresent",
        "env": [{"name": k, "value": v} for k, v in sorted(request.env.items())],
        "resources": {"requests": requests, **({"limits": limits} if limits else {})},
        "volumeMounts": [
            {"name": "outputs", "mountPath": OUTPUTS_PATH},
            {"name": "temp", "mountPath": TEMP_PATH},
        ],
    }
    if request.command:
        instance["command"] = list(request.command)
    if request.ports:
        instance["ports"] = _ports(request.ports)
    collector = {
        "name": COLLECTOR_CONTAINER,
        "image": request.collector_image,
        "imagePullPolicy": "IfNotPresent",
        # Sleeps until the runner has read the outputs and deletes the pod; outlives a
        # SIGTERM (a stopped run's pods), so a stopped instance's outputs are read too.
        "command": ["sh", "-c", "trap '' TERM; while :; do sleep 3600; done"],
        "resources": {
            "requests": {"cpu": request.collector_cpu, "memory": request.collector_memory},
            "limits": {"memory": "64Mi"},
        },
        "volumeMounts": [{"name": "outputs", "mountPath": OUTPUTS_PATH}],
    }
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "enableServiceLinks": False,
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": 5,
        "containers": [instance, collector],
        "volumes": [
            {"name": "outputs", "emptyDir": {}},
            {"name": "temp", "emptyDir": {}},
        ],
    }
    if request.hostname:
        spec["hostname"] = request.hostname
    if request.deadline_s:
        spec["activeDeadlineSeconds"] = request.deadline_s
    aliases: dict[str, list[str]] = {}
    for name, ip in sorted(request.host_aliases.items()):
        aliases.setdefault(ip, []).append(name)
    if aliases:
        spec["hostAliases"] = [{"ip": ip, "hostnames": names} for ip, names in aliases.items()]
    if request.sysctls:
        spec["securityContext"] = {
            "sysctls": [{"name": k, "value": v} for k, v in sorted(request.sysctls.items())]
        }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod_name(request.key),
            "labels": {
                RUN_LABEL: run_tag(run_id),
                GROUP_LABEL: label_value(request.group),
                INSTANCE_LABEL: label_value(request.key.replace("/", "-")),
                MANAGED_LABEL: MANAGER,
            },
            "annotations": {KEY_ANNOTATION: request.key},
        },
        "spec": spec,
    }


def _ports(ports: Mapping[str, str]) -> list[dict[str, Any]]:
    """Container ports named after the config's names where Kubernetes allows the name
    (at most 15 of ``[a-z0-9-]``, a letter, no ``--``, unique), else ``p<number>``."""
    out: list[dict[str, Any]] = []
    used: set[str] = set()
    for name, port in sorted(ports.items()):
        number, _, protocol = port.partition("/")
        candidate = re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]+", "-", name.lower()))
        candidate = candidate[:15].strip("-")
        if not re.search(r"[a-z]", candidate) or candidate in used:
            candidate = f"p{number}-{(protocol or 'tcp')[0]}"
        used.add(candidate)
        out.append(
            {
                "name": candidate,
                "containerPort": int(number),
                "protocol": (protocol or "tcp").upper(),
            }
        )
    return out
