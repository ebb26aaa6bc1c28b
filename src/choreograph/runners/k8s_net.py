"""``cluster:k8s`` pods that run on this host: their processes sampled as every local
runner's are (:class:`HostPods`), and their data network (:class:`PodNetwork`), the same
:class:`~choreograph.net.host.RunNetwork`, switch, link model and sidecar as
``local:netns`` and ``local:docker``, given each pod's network namespace once its instance
container runs.

A pod keeps the cluster's own network as ``eth0`` (the sync service is reached there) and
gets the run's data network as ``eth1``, as Testground's sidecar gives it; the sidecar
signals ``network-initialized`` for an instance once its ``eth1`` is up, so every
``LinkShape`` field, rule, routing policy and address change behaves as on the local
runners. The pod's namespace is found from its container's process, read from the
kubelet's cgroup of the container (microseconds, no API call); for a node that is not this
host the pods get no data network (``TEST_SIDECAR`` is false) — a per-node DaemonSet that
does the same there is not built yet.
"""

from __future__ import annotations

import asyncio
import glob
import time
from collections.abc import Callable
from pathlib import Path

from choreograph.containers.instances import runs_the_image
from choreograph.net.host import RunNetwork
from choreograph.net.sidecar import Sidecar
from choreograph.runners import cgroups
from choreograph.runners.resources import ResourceSampler
from choreograph.runners.supervise import Running

DATA_IFNAME = "eth1"
PID_POLL_S = 0.02
PID_WAIT_S = 60.0
CGROUP_ROOT = Path("/sys/fs/cgroup")
_PLACES = (
    "pids/kubepods/*/pod{uid}/{id}",
    "pids/kubepods/pod{uid}/{id}",
    "kubepods/*/pod{uid}/{id}",
    "kubepods/pod{uid}/{id}",
    "unified/kubepods/*/pod{uid}/{id}",
    "kubepods.slice/kubepods-*.slice/kubepods-*-pod{uid_}.slice/cri-containerd-{id}.scope",
    "kubepods.slice/kubepods-pod{uid_}.slice/cri-containerd-{id}.scope",
)
"""Where the kubelet's cgroupfs and systemd drivers put a pod's container (v1 and v2)."""


def container_pid(pod_uid: str, container_id: str, root: Path = CGROUP_ROOT) -> int | None:
    """A process of a running pod container, from its cgroup; None before or after."""
    for place in _PLACES:
        pattern = place.format(uid=pod_uid, uid_=pod_uid.replace("-", "_"), id=container_id)
        for folder in glob.glob(str(root / pattern)):
            try:
                text = Path(folder, "cgroup.procs").read_text()
            except OSError:
                continue
            pids = [int(line) for line in text.split() if line.isdigit()]
            if pids:
                return min(pids)
    return None


class PodNetwork:
    """Adopts each pod of a run into the run's data network and serves its sidecar."""

    def __init__(
        self,
        network: RunNetwork,
        sync_address: tuple[str, int],
        scope: tuple[str, str, str],
        tell: Callable[[int, str], None],
    ) -> None:
        self.network = network
        self.sidecar = Sidecar(network, sync_address, scope, tell)
        self._sync_host = sync_address[0]
        self._tell = tell

    @property
    def subnet(self) -> str:
        return str(self.network.plan.data_subnet)

    def hostname(self, index: int) -> str:
        return self.network.plan.instances[index].hostname

    async def adopt(self, index: int, pid: int) -> None:
        """Give instance ``index`` (its container's process ``pid``) its data interface."""
        try:
            await _pin_route(pid, self._sync_host)
            await self.network.adopt(index, pid)
        except Exception as exc:
            self._tell(index, f"data network not attached: {exc}")

    async def serve(self) -> None:
        """The sidecar, until cancelled."""
        await self.sidecar.serve()


async def wait_pid(pod_uid: str, container_id: str, wait_s: float = PID_WAIT_S) -> int | None:
    """The process of a pod container that runs the image (not ``runc init`` any more),
    once it does; None if none did within ``wait_s``."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        pid = container_pid(pod_uid, container_id)
        if pid is not None and runs_the_image(pid):
            return pid
        await asyncio.sleep(PID_POLL_S)
    return None


async def _pin_route(pid: int, address: str) -> None:
    """Keep ``address`` (the sync service) reachable through the pod's own network: the
    data network's routing policy replaces the default route (``deny_all`` removes it),
    which a pod, unlike a container on the run's control network, uses to reach this
    host. A host route via the pod's current gateway outlives that."""
    shown = await _in_netns(pid, "ip", "-4", "route", "show", "default")
    words = shown.split()
    if "via" not in words[:-1]:
        return  # no gateway: the address is on a link of the pod's, which stays
    gateway = words[words.index("via") + 1]
    device = words[words.index("dev") + 1] if "dev" in words[:-1] else ""
    await _in_netns(
        pid, "ip", "route", "replace", f"{address}/32", "via", gateway,
        *(("dev", device) if device else ()),
    )  # fmt: skip


async def _in_netns(pid: int, *argv: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        "nsenter", "-t", str(pid), "-n", *argv,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {err.decode().strip()}")
    return out.decode()


class HostPods:
    """The run's pods whose node is this host: each one's container process, found once it
    runs, is adopted into the data network (if the run has one) and sampled each
    ``interval`` into the instance's resource series, as under ``local:docker``."""

    def __init__(
        self,
        run_id: str,
        interval: float,
        instance_dir: Callable[[str], Path],
        network: PodNetwork | None,
        tell: Callable[[int, str], None],
    ) -> None:
        self.network = network
        self._sampler = ResourceSampler(run_id, interval, instance_dir)
        self._tell = tell
        self._running: dict[str, Running] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def started(self, index: int, key: str, pod_uid: str, container_id: str) -> None:
        task = asyncio.get_running_loop().create_task(
            self._found(index, key, pod_uid, container_id)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def ended(self, key: str) -> None:
        self._running.pop(key, None)

    async def _found(self, index: int, key: str, pod_uid: str, container_id: str) -> None:
        pid = await wait_pid(pod_uid, container_id)
        if pid is None:
            if self.network is not None:
                self._tell(index, f"data network not attached: no process of {container_id}")
            return
        if self.network is not None:
            await self.network.adopt(index, pid)
        cell = await asyncio.to_thread(cgroups.cell_of_process, pid)
        self._running[key] = Running(pid, None, cell)

    async def serve(self) -> None:
        """The sidecar and the sampler, until cancelled; then whatever is still looking
        for a pod's process is cancelled too."""
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._sampler.run(lambda: self._running))
                if self.network is not None:
                    tg.create_task(self.network.serve())
        finally:
            for task in list(self._tasks):
                task.cancel()
