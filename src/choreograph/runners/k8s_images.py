"""Getting a run's images to the cluster's nodes without a public registry.

A local cluster (``scripts/k8s-local.sh``) runs its own containerd on this host: images go
from Docker into containerd's ``k8s.io`` namespace (``docker save | ctr import``), and each
imported image is labelled with its Docker image id, so an unchanged build (same content
key, same id) is not imported again — a warm run loads nothing. Any other cluster reads
images from a registry the user names (``registry = "host:port/prefix"``): each image is
tagged there and pushed. With ``image_load = "none"`` the images must already be on the
nodes (the pods use ``imagePullPolicy: IfNotPresent``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable, Iterable

from choreograph.cluster.config import K8sConfig
from choreograph.containers import client
from choreograph.errors import RunnerError

ID_LABEL = "choreograph.io/docker-id"


def load_mode(config: K8sConfig) -> str:
    """``containerd`` when the local cluster's containerd is here, ``registry`` when one
    is named, else ``none``; or what the config says."""
    if config.image_load != "auto":
        return config.image_load
    if os.path.exists(config.containerd_address) and shutil.which("ctr"):
        return "containerd"
    return "registry" if config.registry else "none"


def normalized(ref: str) -> str:
    """The name containerd (and the kubelet) give a Docker reference:
    ``busybox:1`` → ``docker.io/library/busybox:1``."""
    name, _, digest = ref.partition("@")
    first, _, rest = name.partition("/")
    if not rest:
        name = f"docker.io/library/{name}"
    elif first in ("docker.io", "index.docker.io"):
        name = f"docker.io/{rest if '/' in rest else f'library/{rest}'}"
    elif "." not in first and ":" not in first and first != "localhost":
        name = f"docker.io/{name}"
    if not digest and ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    return f"{name}@{digest}" if digest else name


async def ensure_images(
    refs: Iterable[str], config: K8sConfig, note: Callable[[str], None]
) -> dict[str, str]:
    """Each Docker image reference → the reference a pod names to run it."""
    mode = load_mode(config)
    refs = sorted(set(refs))
    if mode == "none":
        return {ref: ref for ref in refs}
    if mode == "registry":
        return {ref: await _push(ref, config.registry, note) for ref in refs}
    present = await _containerd_ids(config.containerd_address)
    for ref in refs:
        image_id = client.image_id(ref)
        if image_id is None:
            raise RunnerError(
                f"cluster:k8s: image {ref} is not in this host's Docker engine, so it cannot "
                "be loaded into the cluster; build it (choreo build) or `docker load` it"
            )
        if present.get(normalized(ref)) == image_id:
            continue
        note(f"loading image {ref} into the cluster's containerd")
        await _import(ref, image_id, config.containerd_address)
    return {ref: ref for ref in refs}


async def _ctr(address: str, *args: str, stdin: int | None = None) -> str:
    proc = await asyncio.create_subprocess_exec(
        "ctr",
        "-a",
        address,
        "-n",
        "k8s.io",
        *args,
        stdin=stdin if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RunnerError(
            f"ctr {args[0]} {args[1] if len(args) > 1 else ''}: {err.decode().strip()}"
        )
    return out.decode()


async def _containerd_ids(address: str) -> dict[str, str]:
    """Image name → the Docker id it was imported from (images Choreograph loaded)."""
    out = await _ctr(address, "images", "ls")
    found: dict[str, str] = {}
    for line in out.splitlines()[1:]:
        fields = line.split()
        if not fields:
            continue
        for label in fields[-1].split(","):
            key, _, value = label.partition("=")
            if key == ID_LABEL:
                found[fields[0]] = value
    return found


async def _import(ref: str, image_id: str, address: str) -> None:
    """``docker save REF | ctr images import -``, then the id label."""
    binary = client.docker_binary() or "docker"
    read, write = os.pipe()
    saver = await asyncio.create_subprocess_exec(
        binary, "save", ref, stdout=write, stderr=asyncio.subprocess.PIPE
    )
    os.close(write)
    try:
        await _ctr(address, "images", "import", "-", stdin=read)
    finally:
        os.close(read)
        _, err = await saver.communicate()
    if saver.returncode != 0:
        raise RunnerError(f"docker save {ref}: {err.decode().strip()}")
    await _ctr(address, "images", "label", normalized(ref), f"{ID_LABEL}={image_id}")


async def _push(ref: str, registry: str, note: Callable[[str], None]) -> str:
    target = f"{registry.rstrip('/')}/{ref.rsplit('/', 1)[-1]}"
    await client.docker("tag", ref, target)
    note(f"pushing {target}")
    await client.docker("push", "--quiet", target)
    return target
