"""Content-addressed image builds for the ``docker:*`` builders.

A builder stages a build context (a folder), computes its build key, and asks here for
an image. The image is tagged ``choreograph/<plan>:<key>`` and labelled with the key
(:data:`~choreograph.containers.client.BUILD_LABEL`), so:

- the tag *is* the cache lookup: a tag that exists was built from the same key, and a
  second build of an unchanged plan is one ``docker image inspect`` (no build at all);
- the key in the tag is the whole build key (16 hex digits, see ``builders/cache.py``),
  so ``choreo builds list`` ids and image tags match one to one, and a plan's builds sit
  side by side under one repository name (``docker images choreograph/<plan>``);
- ``choreo builds purge`` finds the image from the build record and removes it.

``docker build`` runs with the legacy builder (``DOCKER_BUILDKIT=0``): this host's engine
has no BuildKit, and its plain "Step N/M" output is what the Go build cache reads to find
the builder stage's image. Every line is streamed as progress; a failed build raises
BuildError with Docker's last lines. ``--force-rm`` removes the intermediate containers
of failed steps too, and the staged context is removed whatever happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import tempfile
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from choreograph import atomic
from choreograph.containers.client import (
    BUILD_LABEL,
    docker,
    docker_binary,
    docker_status,
    image_exists,
    inspect,
)
from choreograph.errors import BuildError, HostError
from choreograph.plan.spec import Artifact

BUILDER_LABEL = "choreograph.builder"
PLAN_LABEL = "choreograph.plan"
REPOSITORY = "choreograph"
PREPARE_HINT = (
    "no image registry is needed: `choreo images prepare` makes the default images "
    "locally; any other image must be built or loaded first (docker build / docker load)"
)
_TAIL_LINES = 30
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
"""Colour codes Docker puts around a step's stderr."""
# The legacy builder's deprecation notice: noise in every build's progress.
_NOISE = (
    "legacy builder is deprecated",
    "Install the buildx component",
    "docs.docker.com/go/buildx",
)

PROVENANCE_FILE = "build.json"
"""Beside each image, in its build folder: the provenance a cache hit hands back."""

Log = Callable[[str], None]


@dataclass(frozen=True)
class ImageJob:
    """One image to have: whose, under which key, where its build folder is."""

    plan: str
    builder: str
    key: str
    folder: Path
    """``<builds>/<builder>/<key>``: provenance and the Dockerfile; what purge removes."""
    what: str
    log: Log


@dataclass
class Recipe:
    """What a builder staged into the context: how to build it, and what to record."""

    build_args: dict[str, str] = field(default_factory=dict)
    dockerfile: Path | None = None
    """Relative to the context; None: ``Dockerfile`` at its root."""
    provenance: dict[str, Any] = field(default_factory=dict)
    after: Callable[[Built, str], Awaitable[dict[str, Any]]] | None = None
    """Reads more provenance from the built image (its tag given) or Docker's output."""


@dataclass(frozen=True)
class Image:
    tag: str
    provenance: dict[str, Any]
    from_cache: bool


async def cached_or_built(job: ImageJob, stage: Callable[[Path], Awaitable[Recipe]]) -> Image:
    """The image of ``job.key``: the tagged one when it exists, else staged by ``stage``
    into a fresh context, built, and its provenance written beside it."""
    tag = image_tag(job.plan, job.key)
    if await image_exists(tag):
        job.log(f"image {tag} exists (build {job.key}): not rebuilt")
        return Image(tag, {**_stored_provenance(job.folder), "image": tag}, True)
    with staged_context(job.folder.parent, job.key) as context:
        recipe = await stage(context)
        dockerfile = context / (recipe.dockerfile or Path("Dockerfile"))
        built = await build_image(
            context,
            tag=tag,
            key=job.key,
            builder=job.builder,
            plan=job.plan,
            what=job.what,
            log=job.log,
            build_args=recipe.build_args,
            dockerfile=dockerfile,
        )
        more = await recipe.after(built, tag) if recipe.after else {}
        provenance = {**recipe.provenance, **more, "image": tag, "image_id": built.image_id}
        job.folder.mkdir(parents=True, exist_ok=True)
        atomic.write_text(job.folder / "Dockerfile", dockerfile.read_text())
        atomic.write_json(job.folder / PROVENANCE_FILE, provenance)
    return Image(tag, provenance, False)


def image_artifact(builder: str, key: str, image: Image) -> Artifact:
    """An image build's artifact: the runner starts ``image`` with its own entrypoint,
    working folder and environment (so ``argv`` and ``cwd`` stay empty)."""
    return Artifact(
        builder=builder,
        build_id=key,
        argv=(),
        cwd="",
        from_cache=image.from_cache,
        provenance=image.provenance,
        image=image.tag,
    )


def _stored_provenance(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / PROVENANCE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def image_tag(plan: str, key: str) -> str:
    """``choreograph/<plan>:<key>``, the plan name lowered to what a repository allows."""
    name = re.sub(r"[^a-z0-9._-]+", "-", plan.lower()).strip("._-") or "plan"
    return f"{REPOSITORY}/{name}:{key}"


async def image_ids(names: Sequence[str], what: str) -> dict[str, str]:
    """Name → image id of local images; BuildError naming each missing one. Ids go into
    build keys, so a re-prepared base image gives new keys and new builds."""
    found: dict[str, str] = {}
    for name in dict.fromkeys(names):
        code, out, _ = await docker_status("image", "inspect", "--format", "{{.Id}}", name)
        if code != 0:
            raise BuildError(f"{what}: image {name!r} is not present on this host; {PREPARE_HINT}")
        found[name] = out.strip()
    return found


@dataclass(frozen=True)
class Built:
    image_id: str
    lines: tuple[str, ...]
    """Docker's output, for builders that read it (the Go build cache)."""


async def build_image(
    context: Path,
    *,
    tag: str,
    key: str,
    builder: str,
    plan: str,
    what: str,
    log: Log,
    build_args: Mapping[str, str] | None = None,
    dockerfile: Path | None = None,
) -> Built:
    """``docker build`` of ``context`` tagged ``tag`` and labelled with ``key``."""
    argv = ["build", "--force-rm", "--tag", tag]
    argv += ["--label", f"{BUILD_LABEL}={key}", "--label", f"{BUILDER_LABEL}={builder}"]
    argv += ["--label", f"{PLAN_LABEL}={plan}"]
    for name, value in (build_args or {}).items():
        argv += ["--build-arg", f"{name}={value}"]
    if dockerfile is not None:
        argv += ["--file", str(dockerfile)]
    log(f"docker build {tag}")
    lines = await _stream([*argv, str(context)], log, what, builder)
    ids = await image_ids([tag], what)
    await _drop_stages(lines)
    return Built(ids[tag], tuple(lines))


async def _drop_stages(lines: Sequence[str]) -> None:
    """Remove the untagged images the build's earlier stages left (a Go builder stage is
    about 1.4 GB here: a few dozen builds filled 15 GB). Tagged ones, such as a Go build
    cache image, stay; so does the final image. The price: a later build of a changed plan
    starts its builder stage from the base image instead of Docker's layer cache."""
    stages = stage_images(lines)
    if not stages:
        return
    _, out, _ = await docker_status("images", "--filter", "dangling=true", "--quiet", "--no-trunc")
    dangling = {i.removeprefix("sha256:")[:12] for i in out.split()}
    doomed = [i for i in stages if i[:12] in dangling]
    if doomed:
        await docker_status("rmi", *doomed)


def stage_images(lines: Sequence[str]) -> list[str]:
    """The last image id of every stage but the final one, read from the legacy builder's
    output (`` ---> ID`` after each step; ``Step N/M : FROM`` opens a stage)."""
    found: list[str] = []
    last = ""
    for line in lines:
        step = _STEP_FROM.match(line)
        if step and last:
            found.append(last)
        if arrow := _ARROW.match(line):
            last = arrow.group(1)
    return found


_STEP_FROM = re.compile(r"^Step \d+/\d+ : FROM\b", re.IGNORECASE)
_ARROW = re.compile(r"^\s*---> ([0-9a-f]{12,64})\s*$")


async def _stream(argv: list[str], log: Log, what: str, builder: str) -> list[str]:
    """Run ``docker ARGV`` streaming its lines to ``log``; BuildError with the tail.

    Not :func:`~choreograph.containers.client.docker`: a build takes minutes, and its
    output is the progress the user watches."""
    binary = docker_binary()
    if binary is None:
        raise HostError("the `docker` command is not installed")
    proc = await asyncio.create_subprocess_exec(
        binary,
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "DOCKER_BUILDKIT": "0"},
    )
    assert proc.stdout is not None
    lines: list[str] = []
    tail: deque[str] = deque(maxlen=_TAIL_LINES)
    try:
        async for raw in proc.stdout:
            line = _ANSI.sub("", raw.decode("utf-8", "replace")).rstrip()
            if not line.strip() or any(noise in line for noise in _NOISE):
                continue
            lines.append(line)
            tail.append(line)
            log(line)
        code = await proc.wait()
    except BaseException:
        # Closing the client's connection makes the engine stop the build.
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    if code != 0:
        shown = "\n".join(tail)
        raise BuildError(f"{what}: {builder}: docker build failed (exit status {code}):\n{shown}")
    return lines


def builder_stage_image(lines: Sequence[str], stage: str = "runtime") -> str:
    """The image id the builder stage ended with: the last ``---> <id>`` before the step
    that starts stage ``stage`` (``FROM … AS runtime``); "" when not found."""
    last = ""
    starts = re.compile(rf"^Step \d+/\d+ : FROM \S+ AS {re.escape(stage)}$", re.IGNORECASE)
    for line in lines:
        if starts.match(line.strip()):
            return last
        if found := re.fullmatch(r"\s*---> ([0-9a-f]{12,64})", line):
            last = found.group(1)
    return ""


async def read_file(image: str, path: str) -> str:
    """A file of ``image`` without running it (it may have no shell, or no ``cat``);
    "" when it has no such file."""
    cid = (await docker("create", image, "true", error=BuildError)).strip()
    try:
        with tempfile.TemporaryDirectory(prefix="choreo-cp-") as temp:
            target = Path(temp) / "file"
            code, _, _ = await docker_status("cp", f"{cid}:{path}", str(target))
            return target.read_text(errors="replace") if code == 0 and target.is_file() else ""
    finally:
        await docker("rm", "-f", cid, check=False)


def copy_tree(source: Path, dest: Path, ignore: Iterable[str]) -> None:
    """Copy ``source`` to ``dest`` leaving out folders and files named in ``ignore``
    (caches and outputs: ``node_modules`` of the host must not reach the image)."""
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns(*ignore))


@contextlib.contextmanager
def staged_context(root: Path, key: str) -> Iterator[Path]:
    """A fresh folder for one build's context, removed afterwards (built or not)."""
    root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{key}.partial-{os.getpid()}-", dir=root))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def image_sizes(names: Sequence[str]) -> dict[str, int]:
    """Name → size in bytes of the images present (missing ones are left out)."""
    found = await inspect("image", list(dict.fromkeys(names)))
    sizes: dict[str, int] = {}
    for item in found:
        for tag in item.get("RepoTags") or []:
            if tag in names:
                sizes[tag] = int(item.get("Size", 0))
    return sizes


async def remove_images(names: Sequence[str]) -> dict[str, str]:
    """``docker rmi`` each image; name → Docker's reason for those still there. An image
    already gone counts as removed; one a container still uses is kept (and reported)."""
    failed: dict[str, str] = {}
    for name in names:
        code, _, err = await docker_status("rmi", name)
        if code != 0 and "No such image" not in err:
            failed[name] = err.strip()
    return failed
