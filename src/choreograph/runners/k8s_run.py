"""One run's pods on Kubernetes, from creation to deletion (runner ``cluster:k8s``).

The run's namespace and pods are created with a bound on concurrent API calls; one watch
over the run's pods then drives everything: a pod's ``instance`` container running is the
instance's start, its termination is its exit — at which point the runner reads its log
(``run.out``, whose event lines are parsed as any runner's stdout) and its outputs (a tar
read through the pod's ``collector`` container into ``<group>/<index>/``), then reports
the exit and deletes the pod. Progress says how many pods are created, scheduled, running
and done, and why a pod waits (unschedulable, image not found). Stopping (timeout,
interrupt, fail-fast) deletes the pods with the run's grace period; the namespace (made
and removed around the whole run by :mod:`choreograph.runners.k8s_namespace`) goes at
the end whatever happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import math
import tarfile
import time
from typing import Any

from choreograph.cluster import pods as manifests
from choreograph.cluster import podstatus
from choreograph.cluster.config import K8sConfig
from choreograph.cluster.kube import Kube, undecoded
from choreograph.plan.facts import InstanceEvent, InstanceExited, InstanceStarted, RunnerNote
from choreograph.runners.base import RunContext
from choreograph.runners.environment import (
    InstanceSlot,
    instance_env,
    instance_slots,
    required_image,
)
from choreograph.runners.k8s_images import ensure_images
from choreograph.runners.k8s_logs import PodLog
from choreograph.runners.k8s_net import HostPods
from choreograph.runners.sync_alias import alias_names

FATAL_WAITING = {
    "ErrImagePull": 125,
    "ImagePullBackOff": 125,
    "InvalidImageName": 125,
    "ErrImageNeverPull": 125,
    "CreateContainerConfigError": 126,
    "CreateContainerError": 126,
    "RunContainerError": 126,
}
"""A container waiting for one of these reasons will not start by itself: the instance
ends (with Docker's exit codes for "the engine could not run it")."""
COLLECT_S = 5.0
PROGRESS_S = 2.0
STDERR_TAIL_LINES = 20


@dataclasses.dataclass
class _Pod:
    slot: InstanceSlot
    name: str
    scheduled: bool = False
    started: bool = False
    finished: bool = False
    waiting: str = ""
    log: PodLog | None = None


class K8sRun:
    def __init__(
        self,
        ctx: RunContext,
        kube: Kube,
        config: K8sConfig,
        subnet: str,
        namespace: str,
        host: HostPods | None = None,
    ) -> None:
        self.ctx, self.kube, self.config, self.subnet = ctx, kube, config, subnet
        self.host = host
        self.network = host.network if host is not None else None
        self.namespace = namespace
        self.pods = {
            manifests.pod_name(s.key): _Pod(s, manifests.pod_name(s.key))
            for s in instance_slots(ctx.spec)
        }
        self.done = asyncio.Event()
        self.finishing: set[asyncio.Task[None]] = set()
        self.created = 0
        self.following = 0
        """Instances whose log is followed now (at most ``follow_logs``)."""
        self._shown = ""

    async def run(self) -> None:
        """Load the images, then create and follow the pods (the namespace is the
        placement's: :mod:`choreograph.runners.k8s_namespace`)."""
        images = await ensure_images(
            [self._image(p.slot) for p in self.pods.values()] + [self.config.collector_image],
            self.config,
            self._note,
        )
        await self._run_pods(images)

    # -- set-up ---------------------------------------------------------------------

    def _image(self, slot: InstanceSlot) -> str:
        return required_image(self.ctx.artifacts[slot.group], slot.group, "cluster:k8s")

    def _request(self, pod: _Pod, images: dict[str, str]) -> manifests.PodRequest:
        ctx, slot, config = self.ctx, pod.slot, self.config
        group = next(g for g in ctx.spec.groups if g.id == slot.group)
        artifact = ctx.artifacts[slot.group]
        names = alias_names(artifact.sync_alias, slot.group, ctx.sync_port, ctx.sync_host)
        aliases = dict.fromkeys(names, ctx.sync_host)
        hostname = pod.name
        subnet = self.subnet or "0.0.0.0/0"
        if self.network is not None:
            hostname = self.network.hostname(slot.global_index)
            subnet = self.network.subnet
        env = instance_env(
            ctx, slot, subnet=subnet, sidecar=self.network is not None, hostname=hostname, base={}
        )
        env["TEST_OUTPUTS_PATH"] = manifests.OUTPUTS_PATH
        env["TEST_TEMP_PATH"] = manifests.TEMP_PATH
        if config.log_level:
            env["LOG_LEVEL"] = config.log_level
        for port_name, exposed in config.exposed_ports.items():
            env[f"{port_name.strip().upper()}_PORT"] = exposed.partition("/")[0]
        return manifests.PodRequest(
            key=slot.key,
            group=slot.group,
            image=images[self._image(slot)],
            command=artifact.argv,
            env=env,
            cpu=group.resources.get("cpu") or config.pod_cpu,
            memory=group.resources.get("memory") or config.pod_memory,
            cpu_limit=group.resources.get("cpu", ""),
            memory_limit=group.resources.get("memory", ""),
            collector_image=images[config.collector_image],
            collector_cpu=config.collector_cpu,
            collector_memory=config.collector_memory,
            sysctls=config.sysctls,
            ports=config.exposed_ports,
            hostname=hostname,
            host_aliases=aliases,
            deadline_s=config.run_timeout_min * 60,
        )

    async def _create_pod(self, pod: _Pod, images: dict[str, str]) -> None:
        self.ctx.instance_dir(pod.slot.key).mkdir(parents=True, exist_ok=True)
        if self.ctx.stop.is_set():
            return
        create = undecoded(self.kube.core.create_namespaced_pod)

        def build_and_create() -> bytes:
            # The manifest is built once the bound lets its call through, not before:
            # 10,000 built up front and waiting their turn held ~94 MB (9.4 KB each).
            body = manifests.pod_manifest(self.ctx.run_id, self._request(pod, images))
            return create(self.namespace, body)

        try:
            await self.kube.call_retrying(build_and_create)
        except Exception as exc:
            self._exit(pod, 125, f"cluster:k8s could not create pod {pod.name}: {exc}")
            return
        self.created += 1

    # -- the run --------------------------------------------------------------------

    async def _run_pods(self, images: dict[str, str]) -> None:
        selector = f"{manifests.RUN_LABEL}={manifests.run_tag(self.ctx.run_id)}"
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._follow(selector))
            tg.create_task(self._progress())
            on_host = tg.create_task(self.host.serve()) if self.host else None
            stopper = tg.create_task(self._stop_when_asked())
            await asyncio.gather(*(self._create_pod(p, images) for p in self.pods.values()))
            self._check_done()
            await self.done.wait()
            while self.finishing:
                await asyncio.gather(*self.finishing)
            stopper.cancel()
            if on_host is not None:
                on_host.cancel()

    async def _follow(self, selector: str) -> None:
        async for kind, pod in self.kube.watch(self.namespace, selector, self.done):
            tracked = self.pods.get(podstatus.name(pod))
            if tracked is None or tracked.finished:
                continue
            if kind == "DELETED":
                self._exit(tracked, -15, "pod deleted before its instance ended")
                continue
            self._observe(tracked, pod)

    def _observe(self, tracked: _Pod, pod: podstatus.Pod) -> None:
        tracked.scheduled = tracked.scheduled or podstatus.is_true(pod, "PodScheduled")
        placing = podstatus.condition(pod, "PodScheduled") or {}
        unschedulable = placing.get("reason") == "Unschedulable"
        tracked.waiting = f"unschedulable: {placing.get('message')}" if unschedulable else ""
        container = podstatus.container_status(pod, manifests.INSTANCE_CONTAINER)
        state = (container or {}).get("state") or {}
        running, waiting = state.get("running"), state.get("waiting") or {}
        terminated = state.get("terminated")
        if not state:
            status = podstatus.status(pod)
            if status.get("phase") == "Failed":  # e.g. evicted, or its deadline passed unstarted
                reason = f"{status.get('reason')}: {status.get('message')}"
                self._exit(tracked, 137, f"pod failed: {reason}")
            return
        if running is not None and not tracked.started:
            tracked.started = True
            self._follow_log(tracked)
            at = _timestamp(running.get("startedAt"))
            self.ctx.report(InstanceStarted(tracked.slot.key, 0, at))
            if self.host is not None and container is not None:
                cid = str(container.get("containerID") or "").partition("://")[2]
                key = tracked.slot.key
                self.host.started(tracked.slot.global_index, key, podstatus.uid(pod), cid)
        elif waiting.get("reason") in FATAL_WAITING:
            message = f"{waiting['reason']}: {waiting.get('message') or ''}".strip()
            self._exit(tracked, FATAL_WAITING[waiting["reason"]], message)
        elif waiting.get("reason"):
            tracked.waiting = str(waiting["reason"])
        elif terminated is not None:
            tracked.finished = True
            if self.host is not None:
                self.host.ended(tracked.slot.key)
            task = asyncio.get_running_loop().create_task(self._finish(tracked, terminated))
            self.finishing.add(task)
            task.add_done_callback(self.finishing.discard)

    async def _finish(self, pod: _Pod, terminated: dict[str, Any]) -> None:
        """Read the instance's log and outputs, report its exit, delete its pod."""
        log = await self._log(pod)
        if not tracked_started(pod):
            started = _timestamp(terminated.get("startedAt"))
            self.ctx.report(InstanceStarted(pod.slot.key, 0, started))
        await self._outputs(pod)
        tail = log.decode(errors="replace").splitlines()[-STDERR_TAIL_LINES:]
        reason = terminated.get("reason")
        if reason and reason not in ("Completed", "Error"):
            tail.append(f"cluster:k8s: {reason} {terminated.get('message') or ''}".strip())
        self.ctx.report(
            InstanceExited(
                pod.slot.key,
                int(terminated.get("exitCode") or 0),
                "\n".join(tail),
                _timestamp(terminated.get("finishedAt")),
            )
        )
        self._check_done()
        if not self.config.keep_service:
            with contextlib.suppress(Exception):
                await self.kube.call(
                    undecoded(self.kube.core.delete_namespaced_pod),
                    pod.name,
                    self.namespace,
                    grace_period_seconds=0,
                )

    def _pod_log(self, pod: _Pod) -> PodLog:
        if pod.log is None:
            pod.log = PodLog(
                self.kube,
                self.namespace,
                pod.name,
                manifests.INSTANCE_CONTAINER,
                self.ctx.instance_dir(pod.slot.key) / "run.out",
                lambda event: self.ctx.report(InstanceEvent(pod.slot.key, event, "stdout")),
            )
        return pod.log

    def _follow_log(self, pod: _Pod) -> None:
        """Follow a running instance's log while fewer than ``follow_logs`` streams are open
        (a stream's slot is free once it ended, whether its pod ended normally or not)."""
        if self.following < self.config.follow_logs:
            self.following += 1
            self._pod_log(pod).follow(ended=self._followed)

    def _followed(self) -> None:
        self.following -= 1

    async def _log(self, pod: _Pod) -> bytes:
        """The rest of the instance's log into ``run.out`` (see :mod:`.k8s_logs`); its end."""
        return await self._pod_log(pod).finish()

    async def _outputs(self, pod: _Pod) -> None:
        """The pod's outputs folder, as a tar read through its collector container."""
        target = self.ctx.instance_dir(pod.slot.key)
        try:
            data = await self.kube.exec_output(
                self.namespace,
                pod.name,
                manifests.COLLECTOR_CONTAINER,
                ["tar", "-C", manifests.OUTPUTS_PATH, "-cf", "-", "."],
            )
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                tar.extractall(target, filter="data")
        except Exception as exc:
            with (target / "run.err").open("a") as err:
                err.write(f"cluster:k8s: outputs of pod {pod.name} not collected: {exc}\n")

    def _exit(self, pod: _Pod, code: int, message: str) -> None:
        if pod.finished:
            return
        pod.finished = True
        with (self.ctx.instance_dir(pod.slot.key) / "run.err").open("a") as err:
            err.write(message + "\n")
        self.ctx.report(InstanceExited(pod.slot.key, code, message, time.time()))
        self._check_done()

    def _check_done(self) -> None:
        if all(p.finished for p in self.pods.values()):
            self.done.set()

    async def _stop_when_asked(self) -> None:
        """On stop, delete every pod with the run's grace period: instances get SIGTERM,
        then SIGKILL, as on every other runner — :data:`COLLECT_S` later, the time the
        collector (which ignores SIGTERM) is given to hand over a stopped instance's
        outputs."""
        await self.ctx.stop.wait()
        grace = math.ceil(self.ctx.stop_grace_s + COLLECT_S)
        selector = f"{manifests.RUN_LABEL}={manifests.run_tag(self.ctx.run_id)}"
        with contextlib.suppress(Exception):
            await self.kube.call(
                self.kube.core.delete_collection_namespaced_pod,
                self.namespace,
                label_selector=selector,
                grace_period_seconds=grace,
            )
        await asyncio.sleep(grace + 30)
        for pod in self.pods.values():  # deleted without a last status: still report them
            self._exit(pod, -9, "pod did not end after the stop")

    async def _progress(self) -> None:
        while not self.done.is_set():
            pods = self.pods.values()
            waiting = sorted({p.waiting for p in pods if p.waiting and not p.started})
            shown = (
                f"pods: {self.created}/{len(self.pods)} created, "
                f"{sum(p.scheduled for p in pods)} scheduled, "
                f"{sum(p.started and not p.finished for p in pods)} running, "
                f"{sum(p.finished for p in pods)} done"
                + (f"; waiting: {'; '.join(waiting)[:300]}" if waiting else "")
            )
            if shown != self._shown:
                self._shown = shown
                self._note(shown)
            await asyncio.sleep(PROGRESS_S)

    def _note(self, message: str) -> None:
        self.ctx.report(RunnerNote(message=f"cluster:k8s: {message}", at=time.time()))


def tracked_started(pod: _Pod) -> bool:
    started = pod.started
    pod.started = True
    return started


def _timestamp(value: str | None) -> float:
    """An API timestamp in seconds since the epoch; now if the server gave none."""
    at = podstatus.timestamp(value)
    return at if at is not None else time.time()
