"""Runner ``cluster:k8s``'s control path at 1,000 and 10,000 instances against the real API
server, on fake nodes (prints figures only).

A run of N instances costs N pod creations (``api_concurrency`` in flight), N bindings by
the scheduler, one watch delivering every change of N pods, and a namespace deletion. The
pods are the runner's own (``pod_manifest`` of a ``PodRequest`` with Testground's
environment, each built once its create passes the bound, as ``k8s_run`` does),
created through ``Kube.call`` and followed with ``Kube.watch``; only placement is the
benchmark's: a toleration and a ``nodeSelector`` that only the fake nodes match.

Fake nodes (``--nodes``): Node objects with no kubelet (pods are bound, never run),
cordoned and tainted so a concurrent run neither lands on them nor counts them as
capacity; a thread renews their Leases every 10 s (a kubelet's heartbeat) so the node
lifecycle controller keeps them Ready.

Figures: create s (first create sent to last returned), pods/s; all scheduled s (to the
last ``PodScheduled=True`` seen on the watch); watch lag: delivery minus the condition's
``lastTransitionTime`` (whole seconds, truncated: reads 0-1 s high) and minus the
scheduler's ``Scheduled`` event (microseconds, stamped just after the binding: reads a
little low); create→ADDED on this host's clock (negative when the watch beats the create's
response); this process's CPU and peak RSS over create+watch; the API server's RSS; the
namespace's deletion until gone (pods force-deleted first: with no kubelet a graceful
delete never ends). Second table: create call latency, server CPU seconds, etcd bytes per
pod (stored object; ``dbSizeInUse`` growth, history and events included), connections
urllib3 dropped as its pool was full, one list of the N pods (a re-list, or one poll).

``--threads N`` gives ``Kube.call`` an executor of N threads and a pool of N connections:
as is, ``asyncio.to_thread`` uses Python's default executor (cpu + 4 threads) and the
client's pool holds cpu x 5 connections, whatever ``api_concurrency`` says.

Everything made is labelled ``choreograph.io/bench`` and removed at the end (Ctrl-C and
SIGTERM included) and at the start (a killed run's leftovers).

Run: ``python3 bench/k8s_control.py [--instances 1000,10000] [--concurrency 16] [--nodes 40]
[--kubeconfig PATH] [--threads N]``
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import dataclasses
import importlib
import json
import logging
import os
import resource
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, ClassVar

import psutil

from choreograph.cluster import pods as manifests
from choreograph.cluster import podstatus
from choreograph.cluster.config import kubeconfig_path
from choreograph.cluster.kube import undecoded
from choreograph.wire.env import RunEnvVars

BENCH = "choreograph.io/bench"
NODE_LABEL = "choreograph.io/bench-node"
LEASE_NS = "kube-node-lease"
RENEW_S = 10.0
PROGRESS_S = 5.0
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
MERGE = "application/merge-patch+json"
OUTPUTS, TEMP, SUBNET = manifests.OUTPUTS_PATH, manifests.TEMP_PATH, "10.244.0.0/16"
IMAGE, COLLECTOR = "choreograph.local/bench-never-pulled:1", "busybox:1.36-glibc"


def _stamp(micro: bool = False) -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S" + (".%fZ" if micro else "Z"))


class FakeNodes:
    """Node objects with Ready status and Leases kept fresh by a thread; no kubelet."""

    def __init__(self, core: Any, coord: Any, count: int) -> None:
        self.core, self.coord = core, coord
        self.names = [f"choreo-bench-node-{i}" for i in range(count)]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._renew, name="bench leases", daemon=True)

    def register(self) -> None:
        size = {"pods": "300", "cpu": "64", "memory": "256Gi", "ephemeral-storage": "100Gi"}
        for name in self.names:
            labels = {BENCH: "fake", NODE_LABEL: "true", "kubernetes.io/hostname": name}
            taint = {"key": BENCH, "value": "fake", "effect": "NoSchedule"}
            spec: dict[str, Any] = {"unschedulable": True, "taints": [taint]}
            node = self.core.create_node(
                {"metadata": {"name": name, "labels": labels}, "spec": spec}
            )
            ready = {"type": "Ready", "status": "True", "reason": "BenchFakeNode"}
            ready |= {"lastHeartbeatTime": _stamp(), "lastTransitionTime": _stamp()}
            status = {"capacity": size, "allocatable": size, "conditions": [ready]}
            self.core.patch_node_status(name, {"status": status}, _content_type=MERGE)
            owner = {"apiVersion": "v1", "kind": "Node", "name": name, "uid": node.metadata.uid}
            meta = {"name": name, "labels": {BENCH: "fake"}, "ownerReferences": [owner]}
            spec = {"holderIdentity": name, "leaseDurationSeconds": 40}
            self.coord.create_namespaced_lease(LEASE_NS, {"metadata": meta, "spec": spec})
        self.thread.start()
        deadline = time.monotonic() + 90  # the node controller lifts the not-ready taint
        while self.tainted():
            if time.monotonic() > deadline:
                raise RuntimeError(f"fake nodes still not-ready after 90 s: {self.tainted()}")
            time.sleep(1)

    def tainted(self) -> list[str]:
        nodes = self.core.list_node(label_selector=f"{BENCH}=fake").items
        bad = {"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"}
        return [n.metadata.name for n in nodes if {t.key for t in n.spec.taints or []} & bad]

    def _renew(self) -> None:
        while True:
            for name in self.names:
                with contextlib.suppress(Exception):
                    body = {"spec": {"renewTime": _stamp(micro=True)}}
                    self.coord.patch_namespaced_lease(name, LEASE_NS, body, _content_type=MERGE)
            if self.stop.wait(RENEW_S):
                return


def force_delete(core: Any, namespace: str, wait_s: float) -> float | None:
    """Force-delete the namespace's pods, delete it, wait until it is gone: seconds, or
    None if it is still there after ``wait_s`` (pods re-deleted every 10 s meanwhile)."""
    t0 = time.monotonic()
    last = -1e9
    while time.monotonic() - t0 < wait_s:
        if time.monotonic() - last > 10:
            last = time.monotonic()
            with contextlib.suppress(Exception):  # a 10,000-pod call may hit its timeout
                core.delete_collection_namespaced_pod(namespace, grace_period_seconds=0)
            with contextlib.suppress(Exception):
                core.delete_namespace(namespace, grace_period_seconds=0)
        try:
            core.read_namespace(namespace)
        except Exception as exc:
            if getattr(exc, "status", 0) == 404:
                return time.monotonic() - t0
        time.sleep(0.25)
    return None


def cleanup(core: Any, coord: Any) -> None:
    """Remove every benchmark object (this run's or a killed one's)."""
    for ns in core.list_namespace(label_selector=f"{BENCH}=true").items:
        if force_delete(core, ns.metadata.name, 300) is None:
            print(f"warning: namespace {ns.metadata.name} still there after 300 s")
    with contextlib.suppress(Exception):
        core.delete_collection_node(label_selector=f"{BENCH}=fake")
    with contextlib.suppress(Exception):
        coord.delete_collection_namespaced_lease(LEASE_NS, label_selector=f"{BENCH}=fake")


def _process(name: str, needle: str = "") -> psutil.Process | None:
    for proc in psutil.process_iter(["name", "cmdline"]):
        if proc.info["name"] == name and needle in " ".join(proc.info["cmdline"] or []):
            return proc
    return None


def _cpu_rss(proc: psutil.Process | None) -> tuple[float, float]:
    """User+system CPU seconds and RSS in MB (NaN when the process is not found)."""
    with contextlib.suppress(psutil.Error, AttributeError):
        return sum(proc.cpu_times()[:2]), proc.memory_info().rss / 2**20  # type: ignore[union-attr]
    return float("nan"), float("nan")


def etcd(endpoint: str, *argv: str) -> Any:
    """``etcdctl ARGV -w json``'s answer, or None (no etcdctl, no answer)."""
    cmd = ["etcdctl", "--endpoints", endpoint, *argv, "-w", "json"]
    with contextlib.suppress(Exception):
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=True)
        return json.loads(done.stdout)
    return None


def etcd_in_use(endpoint: str) -> float:
    found = etcd(endpoint, "endpoint", "status")
    return float(found[0]["Status"]["dbSizeInUse"]) if found else float("nan")


def _pool_full(record: logging.LogRecord) -> bool:
    """Counts urllib3's "Connection pool is full, discarding connection" (and mutes it)."""
    Row.pool_full_seen += "pool is full" in record.getMessage()
    return False


@dataclasses.dataclass
class Row:
    pool_full_seen: ClassVar[int] = 0
    n: int
    c: int
    create_s: float = 0.0
    failed: int = 0
    scheduled_s: float = float("nan")
    lag: list[float] = dataclasses.field(default_factory=list)
    lag_event: list[float] = dataclasses.field(default_factory=list)
    added: list[float] = dataclasses.field(default_factory=list)
    calls: list[float] = dataclasses.field(default_factory=list)
    cpu_s: float = 0.0
    peak_mb: float = 0.0
    api_mb: tuple[float, float] = (0.0, 0.0)
    server_cpu: dict[str, float] = dataclasses.field(default_factory=dict)
    etcd_object: float = float("nan")
    etcd_growth: float = float("nan")
    pool_full: int = 0
    list_s: tuple[float, float] = (0.0, 0.0)
    list_models_s: tuple[float, float] = (0.0, 0.0)
    delete_s: float | None = None


def _request(run_id: str, i: int, n: int) -> manifests.PodRequest:
    """Instance ``bench/i``'s pod as the runner asks for it (its Testground environment)."""
    key, now = f"bench/{i}", datetime.now(UTC)
    name, sync, paths = manifests.pod_name(key), "10.244.0.1", (OUTPUTS, TEMP)
    env = RunEnvVars("bench", "control", run_id, n, "bench", n, *paths, SUBNET, now, sync)
    env = dataclasses.replace(env, test_hostname=name, group_index=i, global_index=i)
    extra = {"HOSTNAME": name, "INFLUXDB_URL": "", "REDIS_HOST": ""}
    return manifests.PodRequest(
        key, "bench", IMAGE, ["/testplan"], env.to_env() | extra, "10m", "10Mi", COLLECTOR,
        hostname=name, host_aliases={"testground-sync-service": sync},
    )  # fmt: skip


async def measure(kube: Any, n: int, c: int, args: argparse.Namespace) -> Row:
    row = Row(n, c)
    run_id = f"bench-{n}-{c}-{os.getpid()}"
    namespace = f"choreo-bench-{manifests.run_tag(run_id)}"
    selector = f"{manifests.RUN_LABEL}={manifests.run_tag(run_id)}"
    body = {"metadata": {"name": namespace, "labels": {BENCH: "true"}}}
    await kube.call(kube.core.create_namespace, body)
    procs = {
        "apiserver": _process("kube-apiserver"),
        "etcd": _process("etcd", args.etcd.rpartition(":")[2]),
        "scheduler": _process("kube-scheduler"),
    }
    before = {k: _cpu_rss(p) for k, p in procs.items()}
    etcd0, Row.pool_full_seen = etcd_in_use(args.etcd), 0
    returned: dict[str, float] = {}
    added: dict[str, float] = {}
    scheduled: dict[str, float] = {}
    stop, everything = asyncio.Event(), asyncio.Event()

    async def follow() -> None:
        async for kind, pod in kube.watch(namespace, selector, stop):
            now, name = time.time(), podstatus.name(pod)
            if kind == "ADDED":
                added.setdefault(name, now)
            if name in scheduled:
                continue
            placed = podstatus.condition(pod, "PodScheduled")
            if placed is not None and placed.get("status") == "True":
                scheduled[name] = now
                row.lag.append(now - (podstatus.timestamp(placed["lastTransitionTime"]) or now))
            if len(scheduled) >= n - row.failed:
                everything.set()

    async def create(i: int) -> None:
        def call() -> None:
            t = time.time()
            manifest = manifests.pod_manifest(run_id, _request(run_id, i, n))  # as k8s_run:
            manifest["spec"]["nodeSelector"] = {NODE_LABEL: "true"}  # built in the call
            manifest["spec"]["tolerations"] = [
                {"key": BENCH, "operator": "Equal", "value": "fake", "effect": "NoSchedule"},
                {"key": UNSCHEDULABLE, "operator": "Exists", "effect": "NoSchedule"},
            ]
            undecoded(kube.core.create_namespaced_pod)(namespace, manifest)  # not decoded
            returned[manifest["metadata"]["name"]] = time.time()
            row.calls.append(time.time() - t)

        try:
            await kube.call(call)
        except Exception as exc:
            row.failed += 1
            if row.failed <= 3:
                print(f"  create failed: {exc}"[:300])

    async def progress() -> None:
        me, last = psutil.Process(), time.monotonic()
        while True:
            row.peak_mb = max(row.peak_mb, me.memory_info().rss / 2**20)
            if time.monotonic() - last >= PROGRESS_S:
                last = time.monotonic()
                print(
                    f"  [{n} c={c}] {time.time() - t0:6.1f} s: created {len(returned)}/{n}, "
                    f"ADDED {len(added)}, scheduled {len(scheduled)}, rss {row.peak_mb:.0f} MB",
                    flush=True,
                )
            await asyncio.sleep(0.5)

    watcher = asyncio.ensure_future(follow())
    await asyncio.sleep(1.0)  # the watch's first (empty) list is done
    usage0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.time()
    reporter = asyncio.ensure_future(progress())
    try:
        await asyncio.gather(*(create(i) for i in range(n)))
        row.create_s = max(returned.values(), default=t0) - t0
        if len(scheduled) >= n - row.failed:
            everything.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(everything.wait(), args.timeout)
        if scheduled:
            row.scheduled_s = max(scheduled.values()) - t0
        if len(scheduled) < n - row.failed:
            print(f"  only {len(scheduled)} of {n} scheduled after {args.timeout:g} s")
    finally:
        stop.set()
        reporter.cancel()
        for result in await asyncio.gather(watcher, reporter, return_exceptions=True):
            if isinstance(result, Exception):
                print(f"  watch ended: {result}")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    row.cpu_s = sum(usage[:2]) - sum(usage0[:2])
    row.added = [added[k] - returned[k] for k in returned if k in added]
    after = {k: _cpu_rss(p) for k, p in procs.items()}
    row.api_mb = (before["apiserver"][1], after["apiserver"][1])
    row.server_cpu = {k: after[k][0] - before[k][0] for k in procs}
    row.etcd_growth = (etcd_in_use(args.etcd) - etcd0) / max(1, n - row.failed)
    if sample := etcd(args.etcd, "get", "--prefix", f"/registry/pods/{namespace}/", "--limit=50"):
        sizes = [len(base64.b64decode(kv["value"])) for kv in sample.get("kvs", [])]
        row.etcd_object = sum(sizes) / max(1, len(sizes))  # as stored: protobuf
    row.pool_full = Row.pool_full_seen
    listed, cpu = time.monotonic(), time.process_time()  # a re-list, or one poll: the
    await kube.list_pods(namespace, label_selector=selector)  # runner's way (decoded JSON)
    row.list_s = (time.monotonic() - listed, time.process_time() - cpu)
    listed, cpu = time.monotonic(), time.process_time()  # the client's models: the anchor
    await kube.call(kube.core.list_namespaced_pod, namespace, label_selector=selector)
    row.list_models_s = (time.monotonic() - listed, time.process_time() - cpu)
    for event in (await kube.call(kube.core.list_namespaced_event, namespace)).items:
        name = event.involved_object.name
        if event.reason == "Scheduled" and event.event_time and name in scheduled:
            row.lag_event.append(scheduled[name] - event.event_time.timestamp())
    print(f"  [{n} c={c}] deleting namespace {namespace}", flush=True)
    row.delete_s = await asyncio.to_thread(force_delete, kube.core, namespace, args.timeout)
    return row


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _ms(values: list[float], *qs: float) -> str:
    return "/".join(f"{_pct(values, q) * 1000:.0f}" for q in qs)


def report(rows: list[Row]) -> None:
    head = (
        "instances | conc | create s | pods/s | all scheduled s | watch lag p50/p99/max ms "
        "(vs lastTransitionTime; vs Scheduled event) | create→ADDED p50/p99 ms | bench CPU s "
        "| bench peak RSS MB | apiserver RSS MB | delete s"
    )
    print("\n" + head + "\n" + "-" * len(head))
    for r in rows:
        lag = f"{_ms(r.lag, 0.5, 0.99, 1)}; {_ms(r.lag_event, 0.5, 0.99, 1)}"
        delete = f"{r.delete_s:.1f}" if r.delete_s is not None else "not gone"
        print(
            f"{r.n} | {r.c} | {r.create_s:.1f} | {(r.n - r.failed) / r.create_s:.0f} "
            f"| {r.scheduled_s:.1f} | {lag} | {_ms(r.added, 0.5, 0.99)} | {r.cpu_s:.1f} "
            f"| {r.peak_mb:.0f} | {r.api_mb[0]:.0f}→{r.api_mb[1]:.0f} | {delete}"
        )
    head = (
        "instances | conc | failed | create call p50/p99 ms | CPU s apiserver/etcd/scheduler "
        "| etcd B/pod: object/in-use growth | pool-full discards "
        "| list all pods s (CPU s): as JSON / as the client's models"
    )
    print("\n" + head + "\n" + "-" * len(head))
    for r in rows:
        cpu = "/".join(f"{r.server_cpu[k]:.1f}" for k in ("apiserver", "etcd", "scheduler"))
        growth = f"{r.etcd_growth:.0f}" if r.etcd_growth > 0 else "n/a (compacted?)"
        print(
            f"{r.n} | {r.c} | {r.failed} | {_ms(r.calls, 0.5, 0.99)} | {cpu} "
            f"| {r.etcd_object:.0f}/{growth} | {r.pool_full} "
            f"| {r.list_s[0]:.1f} ({r.list_s[1]:.1f}) / "
            f"{r.list_models_s[0]:.1f} ({r.list_models_s[1]:.1f})"
        )


async def run_all(args: argparse.Namespace, path: str) -> list[Row]:
    from choreograph.cluster.kube import Kube

    rows: list[Row] = []
    if args.threads:
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(args.threads))
    for n in (int(x) for x in args.instances.split(",")):
        for c in (int(x) for x in args.concurrency.split(",")):
            kube = Kube(path, concurrency=c)
            if args.threads:
                kubernetes: Any = importlib.import_module("kubernetes")
                kube.api_client.configuration.connection_pool_maxsize = args.threads
                config = kube.api_client.configuration
                kube.api_client.rest_client = kubernetes.client.rest.RESTClientObject(config)
            print(f"{n} instances, api_concurrency {c}", flush=True)
            try:
                rows.append(await measure(kube, n, c, args))
            finally:
                kube.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", default="1000,10000")
    parser.add_argument("--concurrency", default="16", help="api_concurrency, comma-separated")
    parser.add_argument("--nodes", type=int, default=40)
    parser.add_argument("--kubeconfig", default="")
    parser.add_argument("--threads", type=int, default=0, help="executor and pool size")
    parser.add_argument("--etcd", default="http://127.0.0.1:23790", help="etcdctl endpoint")
    parser.add_argument("--timeout", type=float, default=900.0, help="to schedule, to delete")
    args = parser.parse_args()
    path = kubeconfig_path(args.kubeconfig)
    try:
        kubernetes: Any = importlib.import_module("kubernetes")
        client = kubernetes.config.new_client_from_config(config_file=path)
        core = kubernetes.client.CoreV1Api(client)
        coord = kubernetes.client.CoordinationV1Api(client)
        core.list_namespace(limit=1, _request_timeout=10)
    except Exception as exc:
        print(f"skipped: no cluster answers (kubeconfig {path or 'none'}): {exc}"[:500])
        return
    logging.getLogger("urllib3.connectionpool").addFilter(_pool_full)

    def terminate(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    nodes, code = FakeNodes(core, coord, args.nodes), 0
    try:
        cleanup(core, coord)
        nodes.register()
        print(f"{args.nodes} fake nodes Ready (cordoned, tainted {BENCH}=fake)", flush=True)
        rows = asyncio.run(run_all(args, path))
        if late := nodes.tainted():
            print(f"warning: {len(late)} fake node(s) went not-ready/unreachable meanwhile")
        report(rows)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        code = 130
    finally:
        nodes.stop.set()
        print("cleaning up", flush=True)
        cleanup(core, coord)
        client.close()
    if code:
        raise SystemExit(code)


if __name__ == "__main__":
    main()
