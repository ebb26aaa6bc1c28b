"""The one place that talks to the Docker engine: the ``docker`` command line.

Why the CLI and not the Python SDK: an instance under ``local:docker`` is supervised as a
``docker start --attach`` process, so the runners' supervisor (output tee, events, exit
status, timeouts) serves containers unchanged; the CLI also negotiates the API version
with old engines (Debian's 20.10 here, client 28.2) and reads the user's contexts and
``DOCKER_HOST`` the way they expect. The price is a process per call (≈ 15 ms here), so
bulk operations pass many ids to one call.

Everything Choreograph creates carries the label :data:`RUN_LABEL` (the run id) and
:data:`PURPOSE_LABEL`, which is how a crashed run's containers and networks are found and
removed (``choreo healthcheck --fix``, ``choreo terminate --runner local:docker``).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from choreograph.errors import ChoreographError, HostError, RunnerError

RUN_LABEL = "choreograph.run"
PURPOSE_LABEL = "choreograph.purpose"
"""``instance``, ``service`` (an ``additional_hosts`` container) or ``network``."""
BUILD_LABEL = "choreograph.build"
"""On images: the build key that made them (``choreo builds list`` / ``purge``)."""

START_HINT = (
    "start it with `sudo systemctl start docker` (or `sudo dockerd &`), or install it with "
    "`sudo apt-get install docker.io`"
)


def docker_binary() -> str | None:
    return shutil.which(os.environ.get("CHOREO_DOCKER", "docker"))


def problems() -> list[str]:
    """Why Docker cannot be used from here (empty when the engine answers)."""
    binary = docker_binary()
    if binary is None:
        return [f"the `docker` command is not installed; {START_HINT}"]
    try:
        done = subprocess.run(
            [binary, "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return [f"the Docker engine did not answer within 20 s; {START_HINT}"]
    if done.returncode != 0:
        reason = _last_line(done.stderr) or "no answer"
        return [f"the Docker engine is not reachable ({reason}); {START_HINT}"]
    return []


async def docker(
    *args: str,
    stdin: bytes | None = None,
    error: type[ChoreographError] = RunnerError,
    check: bool = True,
    cwd: Path | None = None,
) -> str:
    """Run ``docker ARGS`` and return its stdout. A failure raises ``error`` with Docker's
    own message (``check=False``: returns stdout whatever the status)."""
    code, out, err = await docker_status(*args, stdin=stdin, cwd=cwd)
    if code != 0 and check:
        raise error(f"docker {args[0]} failed: {err.strip() or f'exit status {code}'}")
    return out


async def docker_status(
    *args: str, stdin: bytes | None = None, cwd: Path | None = None
) -> tuple[int, str, str]:
    """``(exit status, stdout, stderr)`` of ``docker ARGS``."""
    binary = docker_binary()
    if binary is None:
        raise HostError(f"the `docker` command is not installed; {START_HINT}")
    proc = await asyncio.create_subprocess_exec(
        binary,
        *args,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
    )
    out, err = await proc.communicate(stdin)
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


async def inspect(kind: str, ids: Sequence[str]) -> list[dict[str, Any]]:
    """``docker KIND inspect`` of many objects in one call; missing ones are left out."""
    if not ids:
        return []
    _, out, _ = await docker_status(kind, "inspect", *ids)
    try:
        found = json.loads(out or "[]")
    except json.JSONDecodeError:
        return []
    return [item for item in found if isinstance(item, dict)]


async def labelled(kind: str, label: str) -> list[str]:
    """Ids of containers (``kind="container"``, running or not) or networks carrying
    ``label`` (``key`` or ``key=value``)."""
    if kind == "container":
        args = ["ps", "-a", "-q", "--no-trunc", "--filter", f"label={label}"]
    else:
        args = [kind, "ls", "-q", "--no-trunc", "--filter", f"label={label}"]
    return (await docker(*args)).split()


async def remove_labelled(label: str) -> int:
    """Remove every container, then every network, carrying ``label``; how many objects
    went. Carries on past objects already gone."""
    removed = 0
    containers = await labelled("container", label)
    if containers:
        await docker("rm", "-f", "-v", *containers, check=False)
        removed += len(containers)
    networks = await labelled("network", label)
    if networks:
        await docker("network", "rm", *networks, check=False)
        removed += len(networks)
    return removed


def image_id(name: str) -> str | None:
    """The id of image ``name`` (blocking; for one-off checks), None if the engine has
    no such image or cannot be reached."""
    binary = docker_binary()
    if binary is None:
        return None
    done = subprocess.run(
        [binary, "image", "inspect", "--format", "{{.Id}}", name],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or None if done.returncode == 0 else None


async def image_exists(name: str) -> bool:
    code, _, _ = await docker_status("image", "inspect", "--format", "{{.Id}}", name)
    return code == 0


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""
