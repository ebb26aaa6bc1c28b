"""The data network of ``cluster:k8s`` pods that run on this host: the same
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
import contextlib
import glob
import time
from collections.abc import Callable
from pathlib import Path

from choreograph.containers.instances import runs_the_image
from choreograph.net.host import RunNetwork
from choreograph.net.sidecar import Sidecar

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
        self._adopting: set[asyncio.Task[None]] = set()

    @property
    def subnet(self) -> str:
        return str(self.network.plan.data_subnet)

    def hostname(self, index: int) -> str:
        return self.network.plan.instances[index].hostname

    def adopt_later(self, index: int, pod_uid: str, container_id: str) -> None:
        """Give instance ``index`` its data interface once its container's process runs
        the image (not ``runc init`` any more)."""
        task = asyncio.get_running_loop().create_task(self._adopt(index, pod_uid, container_id))
        self._adopting.add(task)
        task.add_done_callback(self._adopting.discard)

    async def _adopt(self, index: int, pod_uid: str, container_id: str) -> None:
        deadline = time.monotonic() + PID_WAIT_S
        while time.monotonic() < deadline:
            pid = container_pid(pod_uid, container_id)
            if pid is not None and runs_the_image(pid):
                break
            await asyncio.sleep(PID_POLL_S)
        else:
            self._tell(index, f"data network not attached: no process of container {container_id}")
            return
        try:
            await _pin_route(pid, self._sync_host)
            await self.network.adopt(index, pid)
        except Exception as exc:
            self._tell(index, f"data network not attached: {exc}")

    async def serve(self) -> None:
        """The sidecar, until cancelled; then any adoption still going is cancelled."""
        try:
            await self.sidecar.serve()
        finally:
            for task in list(self._adopting):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


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
