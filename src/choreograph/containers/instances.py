"""Instance containers of one ``local:docker`` run: what ``docker create`` gets, made in
bulk, found running, stopped and removed.

Pure parts (:func:`create_args`, :func:`memory_bytes`, :func:`cpus`, :func:`ulimit_arg`,
:func:`container_name`) are separate from the few calls that talk to the engine, so
every flag a container gets is tested without Docker.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from choreograph.containers.client import PURPOSE_LABEL, RUN_LABEL, docker, docker_status
from choreograph.errors import InputError, RunnerError

OUTPUTS_PATH = "/outputs"
TEMP_PATH = "/temp"
"""Where an instance sees its outputs and temp folders (Testground's paths); the host side
is the run folder, where ``local:exec`` puts them."""
GROUP_LABEL = "choreograph.group"
INSTANCE_LABEL = "choreograph.instance"

_NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9_.-]+")
_ULIMIT = re.compile(r"^([a-z]+)=(-?\d+)(?::(-?\d+))?$")
_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)([A-Za-z]*)$")
_MEMORY_UNITS = {
    "": 1,
    "k": 1000,
    "K": 1000,
    "M": 1000**2,
    "G": 1000**3,
    "T": 1000**4,
    "Ki": 1024,
    "Mi": 1024**2,
    "Gi": 1024**3,
    "Ti": 1024**4,
    "b": 1,
    "kb": 1024,
    "m": 1024**2,
    "mb": 1024**2,
    "g": 1024**3,
    "gb": 1024**3,
}


@dataclass(frozen=True)
class InstanceContainer:
    """One instance's container, as ``docker create`` makes it."""

    key: str
    name: str
    image: str
    command: tuple[str, ...]
    hostname: str
    env: Mapping[str, str]
    outputs: str
    temp: str
    network: str
    control_ip: str
    labels: Mapping[str, str] = field(default_factory=dict)
    ulimits: tuple[str, ...] = ()
    exposed: tuple[str, ...] = ()
    memory: int | None = None
    cpus: float | None = None
    extra_hosts: tuple[str, ...] = ()


def container_name(tag: str, key: str) -> str:
    """``choreo-<tag>-<group>-<index>``: unique per run, readable in ``docker ps``."""
    return f"choreo-{tag}-" + _NAME_UNSAFE.sub("_", key.replace("/", "-"))


def create_args(c: InstanceContainer) -> list[str]:
    """The ``docker create`` arguments of one instance (without ``docker create``)."""
    args = [
        "--name",
        c.name,
        "--hostname",
        c.hostname,
        "--network",
        c.network,
        "--ip",
        c.control_ip,
        "--mount",
        f"type=bind,source={c.outputs},target={OUTPUTS_PATH}",
        "--mount",
        f"type=bind,source={c.temp},target={TEMP_PATH}",
    ]
    for key, value in sorted(c.labels.items()):
        args += ["--label", f"{key}={value}"]
    for key, value in c.env.items():
        args += ["--env", f"{key}={value}"]
    for limit in c.ulimits:
        args += ["--ulimit", limit]
    for port in c.exposed:
        args += ["--expose", port]
    for host in c.extra_hosts:
        args += ["--add-host", host]
    if c.memory is not None:
        args += ["--memory", str(c.memory)]
    if c.cpus is not None:
        args += ["--cpus", f"{c.cpus:g}"]
    return [*args, c.image, *c.command]


def instance_labels(run_id: str, key: str) -> dict[str, str]:
    return {
        RUN_LABEL: run_id,
        PURPOSE_LABEL: "instance",
        GROUP_LABEL: key.rpartition("/")[0],
        INSTANCE_LABEL: key,
    }


def ulimit_arg(text: object, where: str) -> str:
    """Check one Docker ulimit (``nofile=1024:2048``) and return it."""
    if not isinstance(text, str) or not _ULIMIT.match(text.strip()):
        raise InputError(
            f"{where}: ulimit {text!r} is not in Docker's form NAME=SOFT[:HARD] "
            "(e.g. nofile=1048576:1048576)"
        )
    return text.strip()


def memory_bytes(text: str, where: str) -> int:
    """A memory quantity as Testground compositions give it (Kubernetes ``100Mi``,
    ``1Gi``, ``500M``) or Docker's ``512m``, in bytes."""
    found = _QUANTITY.match(text.strip())
    if not found or found.group(2) not in _MEMORY_UNITS:
        raise InputError(
            f"{where}: memory {text!r} is not a quantity such as 512Mi, 1Gi, 500M or 256m"
        )
    value = int(float(found.group(1)) * _MEMORY_UNITS[found.group(2)])
    if value < 6 * 1024**2:
        raise InputError(f"{where}: memory {text!r} is below Docker's minimum of 6 MiB")
    return value


def cpus(text: str, where: str) -> float:
    """A CPU quantity (Kubernetes ``500m`` = half a core, or ``1.5``) in cores."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 1000 if raw.endswith("m") else float(raw)
    except ValueError:
        raise InputError(f"{where}: cpu {text!r} is not a quantity such as 500m or 1.5") from None
    if value <= 0:
        raise InputError(f"{where}: cpu {text!r} must be more than 0")
    return value


async def create_all(
    containers: Sequence[InstanceContainer],
    concurrency: int,
    progress: Callable[[int, int], None],
) -> dict[str, str]:
    """Create every container, ``concurrency`` at a time; key → container id. The first
    failure stops the rest and raises with Docker's message (the caller removes what was
    made, by label)."""
    ids: dict[str, str] = {}
    pool = asyncio.Semaphore(max(1, concurrency))

    async def one(c: InstanceContainer) -> None:
        async with pool:
            out = await docker("create", *create_args(c), error=RunnerError)
        ids[c.key] = out.strip().splitlines()[-1]
        progress(len(ids), len(containers))

    async with asyncio.TaskGroup() as tg:
        for c in containers:
            tg.create_task(one(c))
    return ids


async def states(ids: Iterable[str]) -> dict[str, tuple[int, str]]:
    """Container id → (pid of its first process, Docker's status: ``created``,
    ``running``, ``exited``, …), in one call; containers gone are left out."""
    wanted = list(ids)
    if not wanted:
        return {}
    fmt = "{{.Id}} {{.State.Pid}} {{.State.Status}}"
    _, out, _ = await docker_status("inspect", "--format", fmt, *wanted)
    found: dict[str, tuple[int, str]] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1].isdigit():
            found[parts[0]] = (int(parts[1]), parts[2])
    return found


CGROUP_ROOT = Path("/sys/fs/cgroup")
_CGROUP_PLACES = (
    "pids/docker/{id}",
    "memory/docker/{id}",
    "unified/docker/{id}",
    "docker/{id}",
    "system.slice/docker-{id}.scope",
    "pids/system.slice/docker-{id}.scope",
)
"""Where Docker's cgroupfs and systemd drivers put a container, on v1, hybrid and v2 hosts."""


def started_pid(container_id: str, root: Path = CGROUP_ROOT) -> int | None:
    """A process of a started container, read from its cgroup; None before it starts or
    after it ends. Why not ``docker inspect``: the engine answers it only once every
    container being started meanwhile has started (measured: 5.4 s for 40 concurrent
    starts), which would hold every early container's network back until the last one
    runs; a cgroup file read costs microseconds and waits for nothing. The place that
    worked last is tried first: one host uses one driver."""
    global _last_place
    order = [_last_place, *(p for p in _CGROUP_PLACES if p != _last_place)]
    for place in order:
        try:
            text = (root / place.format(id=container_id) / "cgroup.procs").read_text()
        except OSError:
            continue
        pids = [int(line) for line in text.split() if line.isdigit()]
        if pids:
            _last_place = place
            return min(pids)
    return None


_last_place = _CGROUP_PLACES[0]


def runs_the_image(pid: int) -> bool:
    """Whether container process ``pid`` runs the image's program in the container's own
    network namespace. Before that it is the runtime's ``runc init``, while the engine's
    hooks still set the container's network up (its gateway route among them: a route
    set before them makes the engine fail the start with "file exists")."""
    try:
        comm = Path(f"/proc/{pid}/comm").read_text()
        theirs = os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return False
    return not comm.startswith("runc") and theirs != os.stat("/proc/self/ns/net").st_ino


async def stop(ids: Sequence[str], grace_s: float) -> None:
    """SIGTERM, then SIGKILL after ``grace_s``, every container still running."""
    if ids:
        await docker("stop", "--time", str(max(0, round(grace_s))), *ids, check=False)


async def remove(ids: Sequence[str]) -> None:
    if ids:
        await docker("rm", "-f", "-v", *ids, check=False)
