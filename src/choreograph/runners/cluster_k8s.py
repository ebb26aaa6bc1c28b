"""Runner ``cluster:k8s``: one pod per instance on a Kubernetes cluster, through the
official client (:mod:`choreograph.cluster.kube`).

Before anything is created the runner asks the cluster whether the run fits (node
allocatable less what live pods request) and refuses, saying how many instances fit,
when it does not (``autoscaler_enabled = true`` skips this: the cluster grows). Each run
gets its own namespace (:mod:`choreograph.cluster.pods`), so removing the namespace
removes everything of the run whatever happened to it: at the run's end, by the next run
or ``choreo healthcheck --fix`` when its ``choreo`` died (the namespace names its owner
host, and a run holds a lock on that host while it lives), or ``choreo terminate --runner
cluster:k8s``. The lifecycle of one run's pods is :mod:`choreograph.runners.k8s_run`.

The sync service (``sync_service``) runs in the cluster, in the run's namespace
(:mod:`choreograph.runners.k8s_sync`), unless every node is this host (``auto``), where
this host's own service is one hop from every pod: pods reach that one on the address this
host has towards them (the pod bridge's gateway), or at ``sync_host``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from choreograph.cluster import capacity, podstatus
from choreograph.cluster.config import CONFIG_KEYS, K8sConfig, kubeconfig_path, parse_config
from choreograph.cluster.kube import Kube, problems
from choreograph.errors import RunnerError
from choreograph.net.addresses import hostnames
from choreograph.net.host import RunNetwork
from choreograph.plan.facts import RunnerNote
from choreograph.plan.spec import RunSpec
from choreograph.runners.base import Placement, RunContext
from choreograph.runners.environment import instance_slots
from choreograph.runners.k8s_namespace import run_namespace
from choreograph.runners.k8s_net import HostPods
from choreograph.runners.sync_alias import TESTGROUND_SYNC_ALIAS, parse_alias

if TYPE_CHECKING:
    from choreograph.runners.k8s_sync import RemoteSync

_, TESTGROUND_SYNC_PORT = parse_alias(TESTGROUND_SYNC_ALIAS)


class ClusterK8sRunner:
    id = "cluster:k8s"
    config_keys = CONFIG_KEYS
    published_outcomes_only = True
    """As Testground's cluster:k8s: a success counts once published on ``run_events``."""
    preferred_sync_port = TESTGROUND_SYNC_PORT

    def __init__(self) -> None:
        self._placed: _Placed | None = None

    def problems(self) -> list[str]:
        return problems(kubeconfig_path(""))

    def configured(self) -> bool:
        """Whether this host names a cluster at all (a kubeconfig exists)."""
        return bool(kubeconfig_path(""))

    @contextlib.asynccontextmanager
    async def placed(self, run_id: str, spec: RunSpec, run_dir: Path) -> AsyncIterator[Placement]:
        """Connect, refuse a run that does not fit, open the run's namespace, and start
        its sync service in the cluster or find where pods reach this host's — all before
        the engine follows the sync service and before any pod exists."""
        config = parse_config(spec.run_config)
        path = kubeconfig_path(config.kubeconfig)
        if found := problems(path):
            raise RunnerError(f"cluster:k8s: {found[0]}")
        kube = Kube(path, config.context, config.api_concurrency)
        notes: list[str] = []
        try:
            nodes = await _schedulable_nodes(kube)
            if not config.autoscaler_enabled:
                await _check_capacity(kube, spec, config, nodes)
            here = _all_here(nodes)
            async with contextlib.AsyncExitStack() as stack:
                namespace = await stack.enter_async_context(
                    run_namespace(kube, config, run_id, notes.append)
                )
                sync = None
                if _sync_in_cluster(config, here):
                    sync = await _cluster_sync(kube, namespace, run_id, config, nodes, here, notes)
                    host = sync.address[0]
                else:
                    host = config.sync_host or _local_sync_host(nodes)
                network = None
                if config.shaping != "none" and here:
                    network = await stack.enter_async_context(
                        _data_network(run_id, spec, run_dir, config)
                    )
                self._placed = _Placed(
                    kube, config, _pod_subnet(nodes), network, here, namespace, notes
                )
                yield Placement(sync_host=host, sync=sync)
        finally:
            self._placed = None
            kube.close()

    async def run(self, ctx: RunContext) -> None:
        from choreograph.runners.k8s_run import K8sRun

        placed = self._placed
        if placed is None:
            async with self.placed(ctx.run_id, ctx.spec, ctx.run_dir):
                await self.run(ctx)
            return
        for note in placed.notes:  # what placement did, before the engine listened
            ctx.report(RunnerNote(message=f"cluster:k8s: {note}", at=time.time()))
        host = _host_pods(ctx, placed.network) if placed.here else None
        await K8sRun(ctx, placed.kube, placed.config, placed.subnet, placed.namespace, host).run()


@dataclass(frozen=True)
class _Placed:
    """What ``placed`` found and made, for ``run``."""

    kube: Kube
    config: K8sConfig
    subnet: str
    """TEST_SUBNET: the pods' network, "" when the cluster does not say."""
    network: RunNetwork | None
    here: bool
    """Every node is this host."""
    namespace: str
    notes: list[str]


def _sync_in_cluster(config: K8sConfig, here: bool) -> bool:
    """``sync_service``: ``auto`` puts it in the cluster unless every node is this host
    (where this host's service is one hop from every pod)."""
    return config.sync_service == "cluster" or (config.sync_service == "auto" and not here)


async def _cluster_sync(
    kube: Kube,
    namespace: str,
    run_id: str,
    config: K8sConfig,
    nodes: list[Any],
    here: bool,
    notes: list[str],
) -> RemoteSync:
    from choreograph.runners.k8s_sync import deploy
    from choreograph.sync_service.budget import DEFAULT_HISTORY_BUDGET_BYTES

    tokenless = config.pod_cidr or _pod_cidrs(nodes)
    if not tokenless:
        tokenless = ("0.0.0.0/0", "::/0")
        notes.append(
            "sync service: the nodes do not say their pods' networks, so it serves every "
            'address without a token; set pod_cidr in [runners."cluster:k8s"] to narrow it'
        )
    direct = config.sync_access == "direct" or (config.sync_access == "auto" and here)
    return await deploy(
        kube,
        namespace,
        run_id,
        config,
        port=TESTGROUND_SYNC_PORT,
        tokenless=tokenless,
        history_mib=DEFAULT_HISTORY_BUDGET_BYTES >> 20,
        direct=direct,
        note=notes.append,
    )


def _host_pods(ctx: RunContext, network: RunNetwork | None) -> HostPods:
    """Pods on this host: sampled, and adopted into ``network`` if the run has one."""
    from choreograph.runners.k8s_net import HostPods, PodNetwork
    from choreograph.runners.local_netns import tell_instance
    from choreograph.runners.resource_schedule import sample_interval

    keys = [slot.key for slot in instance_slots(ctx.spec)]

    def tell(index: int, message: str) -> None:
        tell_instance(ctx, keys[index], message)

    pod_network = None
    if network is not None:
        scope = (ctx.run_id, ctx.spec.plan, ctx.spec.case)
        pod_network = PodNetwork(network, (ctx.sync_host, ctx.sync_port), scope, tell)
    interval = sample_interval(ctx.spec.run_config)
    return HostPods(ctx.run_id, interval, ctx.instance_dir, pod_network, tell)


def _data_network(run_id: str, spec: RunSpec, run_dir: Path, config: K8sConfig) -> RunNetwork:
    """The run's data network, pods adopted into it as they start (``eth1``)."""
    from choreograph.runners.k8s_net import DATA_IFNAME

    return RunNetwork(
        run_id,
        hostnames([(g.id, g.instances) for g in spec.groups]),
        subnet=config.subnet or None,
        mtu=config.mtu,
        shaping=config.shaping,
        log_path=run_dir / "switch.log",
        adopted=True,
        data_ifname=DATA_IFNAME,
    )


def _all_here(nodes: list[Any]) -> bool:
    """Whether every schedulable node is this host (its pods' namespaces are here)."""
    local = _local_addresses()
    return all(
        any(a.type == "InternalIP" and a.address in local for a in n.status.addresses or [])
        for n in nodes
    )


async def _schedulable_nodes(kube: Kube) -> list[Any]:
    try:
        nodes = (await kube.call(kube.core.list_node)).items
    except Exception as exc:
        raise RunnerError(f"cluster:k8s: cannot list the cluster's nodes: {exc}") from exc
    ready = [n for n in nodes if not n.spec.unschedulable and _ready(n) and not _tainted(n)]
    if not ready:
        raise RunnerError(
            f"cluster:k8s: the cluster has {len(nodes)} node(s) and none is Ready, "
            "schedulable and untainted (kubectl get nodes)"
        )
    return ready


def _tainted(node: Any) -> bool:
    """Whether the node repels pods that tolerate nothing (as the runner's pods do)."""
    return any(t.effect in ("NoSchedule", "NoExecute") for t in node.spec.taints or [])


def _ready(node: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (node.status.conditions or []))


async def _check_capacity(kube: Kube, spec: RunSpec, config: K8sConfig, nodes: list[Any]) -> None:
    pods, _ = await kube.list_pods(field_selector="status.phase!=Succeeded,status.phase!=Failed")
    names = {n.metadata.name for n in nodes}
    live = [p for p in pods if podstatus.node_name(p) in names]  # pending: the scheduler's
    free = capacity.room(
        [dict(n.status.allocatable or {}) for n in nodes],
        [_requests(p) for p in live],
        len(live),
    )
    collector_cpu = capacity.quantity(config.collector_cpu)
    collector_memory = capacity.quantity(config.collector_memory)
    needs = [
        capacity.Need(
            capacity.quantity(g.resources.get("cpu") or config.pod_cpu, f"group {g.id} cpu")
            + collector_cpu,
            capacity.quantity(
                g.resources.get("memory") or config.pod_memory, f"group {g.id} memory"
            )
            + collector_memory,
            g.instances,
        )
        for g in spec.groups
    ]
    if reason := capacity.refusal(needs, free):
        raise RunnerError(f"cluster:k8s: {reason}")


def _requests(pod: podstatus.Pod) -> dict[str, str]:
    """A pod's summed container requests, as quantities in base units."""
    cpu = memory = Decimal(0)
    for container in podstatus.containers(pod):
        requests = (container.get("resources") or {}).get("requests") or {}
        cpu += capacity.quantity(requests.get("cpu", "0"))
        memory += capacity.quantity(requests.get("memory", "0"))
    return {"cpu": str(cpu), "memory": str(memory)}


def _local_addresses() -> set[str]:
    import psutil

    return {
        a.address
        for addresses in psutil.net_if_addrs().values()
        for a in addresses
        if a.family == socket.AF_INET
    }


def _local_sync_host(nodes: list[Any]) -> str:
    """Where pods reach this host: on a node that is this host, the address this host has
    towards the node's pods (the pod bridge's gateway), else the node's own address."""
    local = _local_addresses()
    for node in nodes:
        ips: list[str] = [a.address for a in node.status.addresses or [] if a.type == "InternalIP"]
        if not any(ip in local for ip in ips):
            continue
        if node.spec.pod_cidr:
            first = next(ipaddress.ip_network(node.spec.pod_cidr).hosts())
            if (source := _route_source(str(first))) and source in local:
                return source
        return next(ip for ip in ips if ip in local)
    raise RunnerError(
        "cluster:k8s: no node of this cluster runs on this host, so its pods may not reach "
        'this host\'s sync service; set sync_host in [runners."cluster:k8s"] to an address '
        "of this host the pods can route to"
    )


def _route_source(address: str) -> str:
    import subprocess

    done = subprocess.run(
        ["ip", "-o", "route", "get", address], capture_output=True, text=True, check=False
    )
    words: list[str] = done.stdout.split()
    return words[words.index("src") + 1] if "src" in words[:-1] else ""


def _pod_cidrs(nodes: list[Any]) -> tuple[str, ...]:
    """Every pod range the nodes declare (``spec.podCIDRs``, both families)."""
    found: list[str] = []
    for node in nodes:
        for cidr in node.spec.pod_cidrs or ([node.spec.pod_cidr] if node.spec.pod_cidr else []):
            if cidr not in found:
                found.append(cidr)
    return tuple(found)


def _pod_subnet(nodes: list[Any]) -> str:
    """``TEST_SUBNET``: the smallest network holding every node's pod range (where an
    instance's address is), or empty when the cluster does not say."""
    cidrs = [ipaddress.ip_network(n.spec.pod_cidr) for n in nodes if n.spec.pod_cidr]
    if not cidrs or len(cidrs) != len(nodes):
        return ""
    net = cidrs[0]
    while not all(c.subnet_of(net) for c in cidrs):  # type: ignore[arg-type]
        net = net.supernet()
    return str(net)


async def dead_runs(kubeconfig: str = "") -> dict[str, str]:
    """Namespace → run id of this host's runs whose ``choreo`` died."""
    from choreograph.runners import k8s_cleanup

    path = kubeconfig_path(kubeconfig)
    if found := problems(path):
        raise RunnerError(found[0])
    kube = Kube(path)
    try:
        return await k8s_cleanup.dead_runs(kube)
    finally:
        kube.close()


async def remove_dead_runs(found: dict[str, str], kubeconfig: str = "") -> list[str]:
    """Delete those namespaces; the ones still there after two minutes."""
    from choreograph.runners.k8s_cleanup import delete_namespaces

    kube = Kube(kubeconfig_path(kubeconfig))
    try:
        return await delete_namespaces(kube, sorted(found), wait_s=120)
    finally:
        kube.close()


async def terminate_all(kubeconfig: str = "") -> int:
    """Remove every Choreograph namespace of the cluster, live runs' included (Testground's
    ``terminate``); how many went."""
    from choreograph.runners.k8s_cleanup import delete_namespaces, run_namespaces

    kube = Kube(kubeconfig_path(kubeconfig))
    try:
        names = [ns.metadata.name for ns in await run_namespaces(kube)]
        await delete_namespaces(kube, names, wait_s=120)
        return len(names)
    finally:
        kube.close()
