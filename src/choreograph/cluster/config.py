"""The ``[runners."cluster:k8s"]`` settings, checked: Testground's keys honoured (or
refused with why) and Choreograph's own, each with a default that works on the local
cluster ``scripts/k8s-local.sh`` brings up.

Testground's keys: ``testplan_pod_cpu`` / ``testplan_pod_memory`` (each instance's
requests, default ``10m`` / ``10Mi``, Testground's values for a local cluster; a group's
``[groups.resources]`` overrides them and also becomes its limits),
``collect_outputs_pod_cpu`` / ``collect_outputs_pod_memory`` (the collector container's),
``run_timeout_min`` (each pod's ``activeDeadlineSeconds``: the cluster itself ends
instances that outlive it, even if ``choreo`` is gone), ``keep_service`` (keep the run's
namespace and pods afterwards), ``exposed_ports``, ``sysctls``
(``["net.core.somaxconn=10000"]``), ``log_level``, ``provider`` (accepted; nothing here
depends on the provider), ``autoscaler_enabled`` (skip the capacity refusal: the cluster
grows). Ours: ``kubeconfig``, ``context``, ``namespace_prefix``, ``sync_host`` (the address
pods reach this host's sync service at), ``image_load`` (``auto``, ``containerd``,
``registry``, ``none``), ``containerd_address``, ``registry``, ``api_concurrency``,
``follow_logs`` (how many running instances' logs are followed as they are written;
the others' are read when they end), ``collector_image``, ``sync_service`` (``auto``:
this host's when every node is this host, else ``cluster``: a Deployment of the run, see
:mod:`.sync_manifests`),
``sync_access`` (how this host reaches a sync service in the cluster: ``direct`` to its
pod, ``apiserver`` through the API server's pod proxy, ``auto``: direct when every node
is this host), ``pod_cidr`` (the pods' networks, which the in-cluster service serves
without a token; default: the nodes' pod ranges), ``sync_service_cpu`` /
``sync_service_memory`` (its requests, default ``100m`` / ``64Mi``), and for the data
network of pods on this host, as ``local:docker``:
``shaping`` (``userspace``, or ``none`` for no data network), ``subnet``, ``mtu``, and
``sample_interval`` (read by the runner's resource sampler).
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from choreograph.cluster.capacity import quantity
from choreograph.errors import InputError
from choreograph.plan.ports import exposed_ports

WHERE = '[runners."cluster:k8s"]'
LOCAL_CONTAINERD = "/run/choreograph-k8s/containerd.sock"
LOCAL_KUBECONFIG = Path("/var/lib/choreograph-k8s/admin.kubeconfig")
DEFAULT_COLLECTOR_IMAGE = "busybox:1.36-glibc"
IMAGE_LOADS = ("auto", "containerd", "registry", "none")
SYNC_SERVICES = ("auto", "host", "cluster")
SYNC_ACCESSES = ("auto", "direct", "apiserver")
CONFIG_KEYS = (
    "testplan_pod_cpu",
    "testplan_pod_memory",
    "collect_outputs_pod_cpu",
    "collect_outputs_pod_memory",
    "run_timeout_min",
    "keep_service",
    "exposed_ports",
    "sysctls",
    "log_level",
    "provider",
    "autoscaler_enabled",
    "kubeconfig",
    "context",
    "namespace_prefix",
    "sync_host",
    "image_load",
    "containerd_address",
    "registry",
    "api_concurrency",
    "follow_logs",
    "collector_image",
    "sync_service",
    "sync_access",
    "pod_cidr",
    "sync_service_cpu",
    "sync_service_memory",
    "shaping",
    "subnet",
    "mtu",
    "sample_interval",
)


@dataclass(frozen=True)
class K8sConfig:
    pod_cpu: str = "10m"
    pod_memory: str = "10Mi"
    collector_cpu: str = "1m"
    collector_memory: str = "4Mi"
    run_timeout_min: int = 0
    keep_service: bool = False
    exposed_ports: Mapping[str, str] = field(default_factory=dict)
    sysctls: Mapping[str, str] = field(default_factory=dict)
    log_level: str = ""
    autoscaler_enabled: bool = False
    kubeconfig: str = ""
    context: str = ""
    namespace_prefix: str = "choreo"
    sync_host: str = ""
    image_load: str = "auto"
    containerd_address: str = LOCAL_CONTAINERD
    registry: str = ""
    api_concurrency: int = 16
    follow_logs: int = 100
    """Running instances whose log is followed as it is written (each holds a connection
    to the API server); the others' are read when they end. 0: none."""
    collector_image: str = DEFAULT_COLLECTOR_IMAGE
    sync_service: str = "auto"
    sync_access: str = "auto"
    pod_cidr: tuple[str, ...] = ()
    sync_service_cpu: str = "100m"
    sync_service_memory: str = "64Mi"
    shaping: str = "userspace"
    """The data network's shaping backend for pods on this host; ``none``: no data network."""
    subnet: str = ""
    mtu: int = 1500


def kubeconfig_path(configured: str) -> str:
    """The kubeconfig to use: the configured one, ``$KUBECONFIG``, ``~/.kube/config``, or
    the local cluster's (``scripts/k8s-local.sh up``), the first that exists."""
    if configured:
        return configured
    for candidate in (
        *(p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p),
        str(Path.home() / ".kube" / "config"),
        str(LOCAL_KUBECONFIG),
    ):
        if Path(candidate).is_file():
            return candidate
    return ""


def parse_config(run_config: Mapping[str, Any]) -> K8sConfig:
    unknown = sorted(set(run_config) - set(CONFIG_KEYS))
    if unknown:
        raise InputError(f"{WHERE}: unknown setting {unknown[0]!r}; expected one of {CONFIG_KEYS}")
    base = K8sConfig()
    out: dict[str, Any] = {}
    for key, attr in (
        ("testplan_pod_cpu", "pod_cpu"),
        ("testplan_pod_memory", "pod_memory"),
        ("collect_outputs_pod_cpu", "collector_cpu"),
        ("collect_outputs_pod_memory", "collector_memory"),
        ("sync_service_cpu", "sync_service_cpu"),
        ("sync_service_memory", "sync_service_memory"),
    ):
        if key in run_config:
            value = str(run_config[key]).strip()
            quantity(value, f"{WHERE} {key}")
            out[attr] = value
    timeout = run_config.get("run_timeout_min", 0)
    if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 0:
        raise InputError(f"{WHERE} run_timeout_min = {timeout!r}: expected whole minutes ≥ 0")
    out["run_timeout_min"] = timeout
    for key in ("keep_service", "autoscaler_enabled"):
        value = run_config.get(key, False)
        if not isinstance(value, bool):
            raise InputError(f"{WHERE} {key} = {value!r}: expected true or false")
        out[key] = value
    out["exposed_ports"] = exposed_ports(run_config.get("exposed_ports", {}), WHERE)
    out["sysctls"] = _sysctls(run_config.get("sysctls", []))
    for key in (
        "log_level",
        "kubeconfig",
        "context",
        "sync_host",
        "registry",
        "containerd_address",
        "collector_image",
        "namespace_prefix",
        "shaping",
        "subnet",
    ):
        if key in run_config:
            value = run_config[key]
            if not isinstance(value, str):
                raise InputError(f"{WHERE} {key} = {value!r}: expected a string")
            out[key] = value.strip()
    prefix = out.get("namespace_prefix", base.namespace_prefix)
    if not re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?", prefix):
        raise InputError(
            f"{WHERE} namespace_prefix = {prefix!r}: expected a DNS label of at most 42 "
            "characters (lowercase letters, digits, '-')"
        )
    load = run_config.get("image_load", base.image_load)
    if load not in IMAGE_LOADS:
        raise InputError(f"{WHERE} image_load = {load!r}: expected one of {IMAGE_LOADS}")
    if load == "registry" and not out.get("registry"):
        raise InputError(f'{WHERE} image_load = "registry" needs registry = "host:port/prefix"')
    out["image_load"] = load
    for key, allowed in (("sync_service", SYNC_SERVICES), ("sync_access", SYNC_ACCESSES)):
        value = run_config.get(key, getattr(base, key))
        if value not in allowed:
            raise InputError(f"{WHERE} {key} = {value!r}: expected one of {allowed}")
        out[key] = value
    out["pod_cidr"] = _networks(run_config.get("pod_cidr", []))
    concurrency = run_config.get("api_concurrency", base.api_concurrency)
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise InputError(f"{WHERE} api_concurrency = {concurrency!r}: expected a number ≥ 1")
    out["api_concurrency"] = concurrency
    follow = run_config.get("follow_logs", base.follow_logs)
    if isinstance(follow, bool) or not isinstance(follow, int) or follow < 0:
        raise InputError(f"{WHERE} follow_logs = {follow!r}: expected a whole number ≥ 0")
    out["follow_logs"] = follow
    mtu = run_config.get("mtu", base.mtu)
    if isinstance(mtu, bool) or not isinstance(mtu, int) or not 576 <= mtu <= 65535:
        raise InputError(f"{WHERE} mtu = {mtu!r}: expected a whole number 576-65535")
    out["mtu"] = mtu
    return K8sConfig(**{**base.__dict__, **out})


def _networks(value: object) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
        raise InputError(
            f'{WHERE} pod_cidr = {value!r}: expected a network such as "10.244.0.0/16"'
        )
    out = []
    for item in items:
        try:
            out.append(str(ipaddress.ip_network(item.strip(), strict=False)))
        except ValueError:
            raise InputError(
                f'{WHERE} pod_cidr: {item!r}: expected a network such as "10.244.0.0/16"'
            ) from None
    return tuple(out)


def _sysctls(value: object) -> dict[str, str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(
            f'{WHERE} sysctls = {value!r}: expected a list such as ["net.core.somaxconn=10000"]'
        )
    out = {}
    for item in value:
        name, eq, setting = item.partition("=")
        if not eq or not re.fullmatch(r"[a-z0-9_]+(\.[a-z0-9_*-]+)+", name.strip()):
            raise InputError(f"{WHERE} sysctls: {item!r}: expected name=value")
        out[name.strip()] = setting.strip()
    return out
