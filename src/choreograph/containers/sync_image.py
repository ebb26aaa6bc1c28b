"""The image the sync service runs from inside a cluster (``cluster:k8s``): Choreograph's
own, made here without a registry.

It is the Python stand-in (``python:3.11-slim-bookworm``, see :mod:`.images`) plus this
installation's ``choreograph`` package, the ``websockets`` package it serves with and, when
installed here, ``uvloop`` (its loop; see :mod:`choreograph.eventloop`) — the service imports
nothing else (checked: ``python -m choreograph.sync_service`` loads only the standard
library, ``choreograph``, ``websockets`` and ``uvloop``) — copied from this host,
so no index is reached and the service is exactly the code that runs the engine. Tagged
``choreograph/sync-service:<key>``, the key a hash of those files and the base image's
id: an unchanged installation reuses its image, and a changed one never runs stale code
in the cluster (the older tags are removed when a new one is built).
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import websockets

import choreograph
from choreograph.containers import client
from choreograph.containers.build import remove_images
from choreograph.containers.images import PYTHON_IMAGE, docker_build_tar
from choreograph.errors import HostError

REPOSITORY = "choreograph/sync-service"
KEY_LABEL = "choreograph.sync-service.key"
LIB = "/opt/choreograph/lib"
PORT = 5050

DOCKERFILE = f"""\
FROM {PYTHON_IMAGE}
COPY lib {LIB}
ENV PYTHONPATH={LIB} PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
USER 65534:65534
ENTRYPOINT ["python3", "-m", "choreograph.sync_service"]
"""
"""Nobody's user: the service needs no privilege (it listens above 1024)."""


def _packages() -> dict[str, Path]:
    """Name in the image's ``lib`` → the package folder on this host."""
    found = {
        "choreograph": Path(choreograph.__file__).resolve().parent,
        "websockets": Path(websockets.__file__).resolve().parent,
    }
    try:  # the image's Python is CPython 3.11 on Debian, as uvloop's wheel here is built for
        import uvloop
    except ImportError:
        return found  # the service runs on asyncio's loop there
    found["uvloop"] = Path(uvloop.__file__).resolve().parent
    return found


def _files(folder: Path) -> Iterator[Path]:
    """The package's files, byte code left out (Python makes its own)."""
    for path in sorted(folder.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            yield path


def content_key(base_id: str) -> str:
    digest = hashlib.sha256(DOCKERFILE.encode() + base_id.encode())
    for name, folder in sorted(_packages().items()):
        for path in _files(folder):
            digest.update(f"{name}/{path.relative_to(folder)}\0".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def _context(target: Path) -> Path:
    with tarfile.open(target, "w") as tar:
        data = DOCKERFILE.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        for name, folder in _packages().items():
            for path in _files(folder):
                member = tar.gettarinfo(str(path), f"lib/{name}/{path.relative_to(folder)}")
                member.uid = member.gid = 0
                member.uname = member.gname = "root"
                member.mode = 0o644
                with path.open("rb") as handle:
                    tar.addfile(member, handle)
    return target


async def sync_service_image(log: Callable[[str], None] | None = None) -> str:
    """The tag of the sync service's image for this installation, built when missing."""
    base_id = client.image_id(PYTHON_IMAGE)
    if base_id is None:
        raise HostError(
            f"the in-cluster sync service is built on {PYTHON_IMAGE}, which this host's "
            "Docker engine lacks: run `choreo images prepare --only python`"
        )
    key = content_key(base_id)
    tag = f"{REPOSITORY}:{key}"
    if client.image_id(tag) is not None:
        return tag
    say = log or (lambda line: None)
    say(f"building {tag} (the sync service's image)")
    with tempfile.TemporaryDirectory(prefix="choreo-sync-image-") as work:
        await docker_build_tar(tag, {KEY_LABEL: key}, _context(Path(work) / "context.tar"), say)
    await _remove_older(tag)
    return tag


async def _remove_older(current: str) -> None:
    """Every other ``choreograph/sync-service`` tag: each installation change makes a new
    one (its own layer is about 2 MB, but the tags would pile up in ``docker images``). One
    a container still uses stays (``docker rmi`` refuses)."""
    _, out, _ = await client.docker_status(
        "images", REPOSITORY, "--format", "{{.Repository}}:{{.Tag}}"
    )
    older = [name for name in out.split() if name != current and not name.endswith(":<none>")]
    if older:
        await remove_images(older)
