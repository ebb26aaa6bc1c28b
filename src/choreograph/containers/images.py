"""``choreo images prepare``: local stand-ins for every image the Docker builders and the
``local:docker`` runner name by default, for hosts that reach no image registry.

Each stand-in is made from what this host already has (Debian's mirror through
``debootstrap``, the host's Go toolchain, Node binary and static busybox) and tagged with
the exact name the builders default to, so a plan built with ``docker:go`` finds
``golang:1.26-bookworm`` locally and never tries to pull it.

Idempotence rests on one label, :data:`PREPARED_LABEL`, whose value is a hash of what
went into the image (see :func:`content_key`): the recipe, the host tool's version and
path, and the id of the base image it was built on. A name that already holds an image
with the same key is left as it is ("up to date"); one that holds an image *without* the
label is somebody else's (a real upstream image pulled earlier) and is never replaced
unless asked with ``force``.

No root file system tarball is cached in the home folder: the ``debian`` image itself is
the cache. Docker already keeps its layer; a second copy would double the disk used for
nothing, every other image builds ``FROM`` it rather than from a tarball, and the only
time the tarball would be read again is ``--force``, which asks for a fresh debootstrap.
"""

from __future__ import annotations

import asyncio
import contextlib
import graphlib
import hashlib
import io
import json
import os
import platform
import re
import shutil
import signal
import struct
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

from choreograph.containers import client
from choreograph.errors import BuildError, HostError, InputError

GO_BUILD_IMAGE = "golang:1.26-bookworm"
NODE_IMAGE = "node:20-bookworm-slim"
PYTHON_IMAGE = "python:3.11-slim-bookworm"
RUNTIME_IMAGE = "busybox:1.36-glibc"
DEBIAN_IMAGE = "debian:bookworm-slim"

DEFAULT_IMAGES: dict[str, str] = {
    "debian": DEBIAN_IMAGE,
    "go": GO_BUILD_IMAGE,
    "node": NODE_IMAGE,
    "python": PYTHON_IMAGE,
    "runtime": RUNTIME_IMAGE,
}
"""Kind → the image name the builders and runner default to."""

KINDS = tuple(DEFAULT_IMAGES)

DEPENDS: dict[str, tuple[str, ...]] = {
    "go": ("debian",),
    "node": ("debian",),
    "python": ("debian",),
}
"""Kinds built ``FROM`` another kind's image; that one is prepared first."""

PREPARED_LABEL = "choreograph.prepared"
"""On a stand-in image: its content key. Its absence marks an image not made here."""
KIND_LABEL = "choreograph.prepared.kind"
"""On a stand-in image: its kind, for ``docker images --filter label=…`` (images built
``FROM`` a stand-in inherit both labels)."""

RECIPE_VERSION = "1"
"""Part of every content key: bump it when a recipe changes in a way its Dockerfile text
does not show (the debootstrap options, the slimming, the busybox layout), so images
made by the old recipe are rebuilt."""

SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
MIRROR_ENV = "CHOREO_DEBIAN_MIRROR"
"""Overrides the mirror read from the host's apt sources (a local mirror or apt cache)."""

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

Outcome = Literal["built", "up to date", "skipped", "tagged"]
Log = Callable[[str], None]


def _quiet(line: str) -> None:
    """The default log: say nothing."""


@dataclass(frozen=True)
class PreparedImage:
    """What :func:`prepare` did with one name: ``built`` it, found it ``up to date``,
    ``skipped`` it (an image not made here holds the name, or the host tool it needs is
    missing) or ``tagged`` an alias."""

    kind: str
    name: str
    outcome: Outcome
    image_id: str = ""
    seconds: float = 0.0
    note: str = ""

    def describe(self) -> str:
        """One line for the terminal."""
        what = f"{self.name} ({self.kind})"
        if self.outcome == "built":
            line = f"built {what} in {self.seconds:.1f} s"
        elif self.outcome == "tagged":
            line = f"tagged {self.name}: the {self.kind} stand-in ({DEFAULT_IMAGES[self.kind]})"
        else:
            line = f"{what}: {self.outcome}"
        return f"{line}; {self.note}" if self.note else line


class Alias(NamedTuple):
    """``--as NAME=KIND``: tag the stand-in of KIND under NAME as well."""

    name: str
    kind: str


# --- pure parts: names, aliases, order, keys -------------------------------------------

_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_NAME_PATH = re.compile(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DOMAIN_PART = r"(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])"
_DOMAIN = re.compile(rf"{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*(?::[0-9]+)?")
_REFERENCE_HINT = (
    "an image name is [REGISTRY/]PATH[:TAG] with a lowercase PATH, "
    "e.g. golang:alpine or localhost:5000/team/go:1.22"
)


def reference_problem(name: str) -> str | None:
    """Why ``name`` cannot be given to ``docker tag`` (None when it can). Docker's own
    grammar: the part before the first ``/`` is a registry only when it looks like a
    host (has a ``.`` or a ``:``, or is ``localhost``); a digest cannot be tagged."""
    if "@" in name:
        return "a digest (@sha256:…) names content, it cannot be given as a tag"
    if name == "scratch":
        return "`scratch` is Docker's reserved empty image; `FROM scratch` needs no image"
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        if not _DOMAIN.fullmatch(first):
            return f"{first!r} is not a valid registry host; {_REFERENCE_HINT}"
        remainder = rest
    else:
        remainder = name
    path, colon, tag = remainder.partition(":")
    if not _NAME_PATH.fullmatch(path) or (colon and not _TAG.fullmatch(tag)):
        return _REFERENCE_HINT
    if len(name) - len(tag) - len(colon) > 255:
        return "an image name is at most 255 characters long"
    return None


def with_tag(name: str) -> str:
    """``name`` as Docker stores it when no tag is given (``golang`` → ``golang:latest``)."""
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else f"{name}:latest"


def check_kinds(kinds: Iterable[str]) -> list[str]:
    """``kinds`` (from ``--only``) with duplicates dropped; InputError for an unknown one."""
    wanted = list(dict.fromkeys(kinds))
    unknown = [k for k in wanted if k not in DEFAULT_IMAGES]
    if unknown:
        raise InputError(
            f"unknown image kind {', '.join(map(repr, unknown))}; "
            f"expected one of {', '.join(KINDS)}"
        )
    return wanted


def parse_alias(text: str) -> Alias:
    """``NAME=KIND`` from ``--as``; InputError saying what is wrong and what is expected."""
    name, sep, kind = text.partition("=")
    name, kind = name.strip(), kind.strip()
    if not sep or not name or not kind:
        raise InputError(f"--as {text!r}: expected NAME=KIND, e.g. --as golang:alpine=go")
    if kind not in DEFAULT_IMAGES:
        raise InputError(
            f"--as {text!r}: unknown kind {kind!r}; expected one of {', '.join(KINDS)}"
        )
    problem = reference_problem(name)
    if problem:
        raise InputError(f"--as {text!r}: {name!r} cannot be an image name: {problem}")
    for other, default in DEFAULT_IMAGES.items():
        if with_tag(name) == default and other != kind:
            raise InputError(f"--as {text!r}: {name} is the default image of kind {other}")
    return Alias(name, kind)


def parse_aliases(texts: Iterable[str]) -> list[Alias]:
    """Every ``--as`` flag, parsed; one name given two different kinds is an InputError."""
    aliases: dict[str, Alias] = {}
    for text in texts:
        alias = parse_alias(text)
        seen = aliases.get(with_tag(alias.name))
        if seen is not None and seen.kind != alias.kind:
            raise InputError(f"--as: {alias.name} is given two kinds, {seen.kind} and {alias.kind}")
        aliases[with_tag(alias.name)] = alias
    return list(aliases.values())


def _graph(kinds: Iterable[str]) -> graphlib.TopologicalSorter[str]:
    """The kinds asked for and every kind they are built on, as a dependency graph."""
    graph: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    todo = list(kinds)
    while todo:
        kind = todo.pop()
        graph.add(kind, *DEPENDS.get(kind, ()))
        todo.extend(DEPENDS.get(kind, ()))
    return graph


def build_order(kinds: Iterable[str]) -> list[str]:
    """``kinds`` and what they are built on, each after everything it is built on, in
    :data:`KINDS` order otherwise (so the report reads the same every time)."""
    todo = [k for k in KINDS if k in set(_graph(kinds).static_order())]
    order: list[str] = []
    while todo:
        ready = next(k for k in todo if set(DEPENDS.get(k, ())) <= set(order))
        order.append(ready)
        todo.remove(ready)
    return order


def content_key(kind: str, inputs: dict[str, str]) -> str:
    """The label value of a stand-in: a hash of its kind, :data:`RECIPE_VERSION` and
    ``inputs`` (host tool versions and paths, base image ids, the Dockerfile text).
    Equal keys mean an existing image can be kept; any change means a rebuild."""
    payload = json.dumps(
        {"recipe": RECIPE_VERSION, "kind": kind, "inputs": inputs}, sort_keys=True
    ).encode()
    return hashlib.sha256(payload).hexdigest()[:32]


class Existing(NamedTuple):
    """An image already under a name: its id and its :data:`PREPARED_LABEL` ("" if none)."""

    image_id: str
    key: str


Decision = Literal["build", "up to date", "foreign"]


def decide(existing: Existing | None, key: str, force: bool) -> Decision:
    """Build when the name is free, forced, or holds a stand-in of another key; keep an
    up to date stand-in; leave an image not made here (``foreign``) alone."""
    if existing is None or force:
        return "build"
    if existing.key == key:
        return "up to date"
    return "build" if existing.key else "foreign"


AliasDecision = Literal["up to date", "foreign", "tag"]


def decide_alias(existing: Existing | None, target_id: str, force: bool) -> AliasDecision:
    """Keep an alias already on the stand-in; leave a name holding an image not made here
    alone unless ``force``; (re)tag otherwise."""
    if existing is not None and existing.image_id == target_id:
        return "up to date"
    if existing is not None and not existing.key and not force:
        return "foreign"
    return "tag"


def parse_apt_sources(text: str) -> list[tuple[str, list[str]]]:
    """``(URI, suites)`` of every enabled binary (``deb``) source in ``text``, which may
    be one-line ``sources.list`` or deb822 ``.sources`` format."""
    found: list[tuple[str, list[str]]] = []
    for stanza in re.split(r"\n\s*\n", text):
        fields = _deb822_fields(stanza)
        if fields:
            if "deb" in fields.get("types", "").split() and fields.get("enabled") != "no":
                suites = fields.get("suites", "").split()
                found.extend((uri, suites) for uri in fields.get("uris", "").split())
            continue
        for line in stanza.splitlines():
            words = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()
            if len(words) >= 3 and words[0] == "deb":
                found.append((words[1], words[2:3]))
    return found


def _deb822_fields(stanza: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in stanza.splitlines():
        match = re.match(r"([A-Za-z][A-Za-z0-9-]*):\s*(.*)", line)
        if match:
            fields[match.group(1).lower()] = match.group(2).strip()
    return fields if "uris" in fields else {}


def pick_mirrors(sources: Sequence[tuple[str, list[str]]], suite: str) -> tuple[str, str]:
    """``(mirror, security mirror or "")`` for ``suite`` from parsed apt sources: the host's
    own mirror serves debootstrap, whatever reaches it reaches the images too."""
    usable = [(u.rstrip("/"), s) for u, s in sources if u.startswith(("http:", "https:", "file:"))]
    security = next((u for u, s in usable if f"{suite}-security" in s), "")
    main = [(u, s) for u, s in usable if u != security]
    mirror = next((u for u, s in main if suite in s), "")
    mirror = mirror or next((u for u, _ in main if u.endswith("/debian")), DEFAULT_MIRROR)
    return mirror, security


# --- talking to Docker -----------------------------------------------------------------


async def existing_image(name: str) -> Existing | None:
    """The image under ``name``, if any, with its prepared key."""
    found = await client.inspect("image", [name])
    if not found:
        return None
    labels = (found[0].get("Config") or {}).get("Labels") or {}
    return Existing(str(found[0].get("Id", "")), str(labels.get(PREPARED_LABEL, "")))


def _labels(kind: str, key: str) -> dict[str, str]:
    return {PREPARED_LABEL: key, KIND_LABEL: kind}


async def _run_logged(
    argv: Sequence[str],
    on_line: Callable[[str], None],
    *,
    stdin: Path | None = None,
    env: dict[str, str] | None = None,
    error: str,
) -> None:
    """Run ``argv`` (in a session of its own, killed with all its children if this is
    cancelled), pass each output line to ``on_line``, and raise BuildError with the last
    lines of output when it fails."""
    tail: list[str] = []
    with contextlib.ExitStack() as stack:
        source = stack.enter_context(stdin.open("rb")) if stdin else subprocess.DEVNULL
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=source,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
            start_new_session=True,
            limit=1 << 20,  # apt and docker print long lines now and then
        )
        try:
            assert proc.stdout is not None
            async for raw in proc.stdout:
                line = raw.decode(errors="replace").rstrip()
                tail = [*tail[-39:], line]
                on_line(line)
            await proc.wait()
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
    if proc.returncode != 0:
        output = "\n".join(tail).strip() or f"exit status {proc.returncode}"
        raise BuildError(f"{error}:\n{output}")


async def docker_build_tar(name: str, labels: dict[str, str], context: Path, log: Log) -> None:
    """``docker build`` of a context tarball made elsewhere (the sync service's image), as
    the stand-ins are built."""
    await _docker_build(name, labels, context, log)


async def _docker_build(name: str, labels: dict[str, str], context: Path, log: Log) -> None:
    """``docker build`` of a context tarball with the legacy builder (no buildx here), its
    ``Step`` lines passed to ``log``. The build uses the host's network so apt reaches
    whatever mirror (or proxy) the host reaches."""
    binary = client.docker_binary()
    if binary is None:
        raise HostError(f"the `docker` command is not installed; {client.START_HINT}")
    argv = [binary, "build", "--network", "host", "--force-rm", "-t", name]
    for key, value in labels.items():
        argv += ["--label", f"{key}={value}"]
    for var in ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        if var in os.environ:
            argv += ["--build-arg", f"{var}={os.environ[var]}"]
    env = dict(os.environ, DOCKER_BUILDKIT="0")

    def step(line: str) -> None:
        if line.startswith("Step "):
            log(line)

    await _run_logged([*argv, "-"], step, stdin=context, env=env, error=f"building {name}")


async def _docker_import(name: str, labels: dict[str, str], rootfs_tar: Path, *, cmd: str) -> None:
    """``docker import`` of a root file system tarball, with the configuration a
    Dockerfile would give (PATH, CMD, labels)."""
    changes = [f"ENV PATH={PATH}", f"CMD {json.dumps([cmd])}"]
    changes += [f"LABEL {key}={value}" for key, value in labels.items()]
    args = [arg for change in changes for arg in ("--change", change)]
    await client.docker("import", *args, str(rootfs_tar), name, error=BuildError)


# --- work folders ----------------------------------------------------------------------


def _mounts_below(folder: Path) -> list[str]:
    """Mount points at or below ``folder``, deepest first (debootstrap mounts /proc and
    /sys in its target, and a killed one leaves them there)."""
    prefix = str(folder.resolve())
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return []
    points = [line.split()[1].replace("\\040", " ") for line in lines if len(line.split()) > 1]
    below = [p for p in points if p == prefix or p.startswith(prefix + "/")]
    return sorted(below, key=len, reverse=True)


@contextlib.contextmanager
def _work_folder() -> Iterator[Path]:
    """A temporary folder, removed whatever happens inside: but never while something is
    still mounted in it, since removing a root file system with the host's /proc or /dev
    mounted inside would remove the host's own files. Then it is left, and said so."""
    folder = Path(tempfile.mkdtemp(prefix="choreo-images-"))
    try:
        yield folder
    finally:
        left = _release(folder)
    if left:
        raise HostError(f"{folder} still has file systems mounted in it: unmount, remove it")


def _release(folder: Path) -> bool:
    """Unmount what is mounted in ``folder`` and remove it; True if it had to be left."""
    for point in _mounts_below(folder):
        _unmount(point)
    if _mounts_below(folder):
        return True
    shutil.rmtree(folder, ignore_errors=True)
    return False


def _unmount(point: str) -> None:
    subprocess.run(["umount", "--lazy", point], capture_output=True, check=False)


def _add_tree(tar: tarfile.TarFile, source: Path, arcname: str) -> None:
    """Add ``source`` (a file or folder; links kept as links) owned by root."""

    def as_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    tar.add(source, arcname=arcname, filter=as_root)


def _add_text(tar: tarfile.TarFile, arcname: str, text: str, mode: int = 0o644) -> None:
    data = text.encode()
    info = tarfile.TarInfo(arcname)
    info.size, info.mode, info.mtime = len(data), mode, 0
    tar.addfile(info, io.BytesIO(data))


def _write_context(folder: Path, dockerfile: str, files: dict[str, Path]) -> Path:
    """A build context tarball (Dockerfile + ``files`` under their names) in ``folder``.

    A tarball for ``docker build -`` rather than a context folder: the host paths (GOROOT,
    npm's folder) go in under the names the Dockerfile copies from, where a folder would
    need them copied into it first (Docker does not follow links out of a context)."""
    path = folder / "context.tar"
    with tarfile.open(path, "w") as tar:
        _add_text(tar, "Dockerfile", dockerfile)
        for arcname, source in files.items():
            _add_tree(tar, source, arcname)
    return path


# --- recipes ---------------------------------------------------------------------------


class Recipe(NamedTuple):
    """How one kind is made: ``facts()`` reads the host inputs that go into its content
    key (HostError when a tool it copies is missing); ``build`` makes the image from
    those facts, the base image and the labels to set."""

    facts: Callable[[], Awaitable[dict[str, str]]]
    build: Callable[[str, dict[str, str], dict[str, str], Log], Awaitable[None]]


async def _output(*argv: str, env: dict[str, str] | None = None) -> str:
    """The stdout of a host tool asked for a fact (a version, a path); run from ``/`` so a
    ``go.mod`` or ``.nvmrc`` in the current folder changes nothing."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd="/", env=env
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise HostError(f"`{' '.join(argv)}` failed: {err.decode(errors='replace').strip()}")
    return out.decode().strip()


def _apt_sources_text(apt_dir: Path = Path("/etc/apt")) -> str:
    parts: list[Path] = [apt_dir / "sources.list"]
    folder = apt_dir / "sources.list.d"
    if folder.is_dir():
        parts += sorted(p for p in folder.iterdir() if p.suffix in (".list", ".sources"))
    texts = []
    for path in parts:
        with contextlib.suppress(OSError, UnicodeDecodeError):
            texts.append(path.read_text())
    return "\n\n".join(texts)


HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


async def _debian_facts() -> dict[str, str]:
    mirror, security = pick_mirrors(parse_apt_sources(_apt_sources_text()), SUITE)
    mirror = os.environ.get(MIRROR_ENV, "").rstrip("/") or mirror
    facts = {"suite": SUITE, "mirror": mirror, "security": security, "arch": platform.machine()}
    if HOST_CA_BUNDLE.is_file():
        facts["ca_bundle"] = hashlib.sha256(HOST_CA_BUNDLE.read_bytes()).hexdigest()[:16]
    return facts


def _apt_sources_for_image(facts: dict[str, str]) -> str:
    suite, mirror = facts["suite"], facts["mirror"]
    lines = [f"deb {mirror} {suite} main", f"deb {mirror} {suite}-updates main"]
    if facts["security"]:
        lines.append(f"deb {facts['security']} {suite}-security main")
    return "\n".join(lines) + "\n"


_DPKG_EXCLUDES = """\
# choreo images prepare: a slim image keeps no documentation, manual pages or translations
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
"""

_APT_CLEAN = """\
// choreo images prepare: keep no package cache in image layers
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb || true"; };
"""


def _slim_rootfs(root: Path, facts: dict[str, str]) -> None:
    """What debootstrap leaves that an image should not have: the host's hostname and
    resolver (Docker provides both), documentation; and the apt setup images rely on."""
    for name in ("etc/hostname", "etc/resolv.conf"):
        (root / name).unlink(missing_ok=True)
    for folder in ("usr/share/man", "usr/share/info", "usr/share/locale", "var/lib/apt/lists"):
        for child in (root / folder).glob("*"):
            if child.name not in ("locale.alias", "lock", "partial"):
                _remove(child)
    for doc in (root / "usr/share/doc").glob("*/*"):
        if doc.name != "copyright":
            _remove(doc)
    (root / "etc/apt/sources.list").write_text(_apt_sources_for_image(facts))
    if facts.get("ca_bundle"):
        # Trust what this host trusts: a site whose TLS goes through an inspecting proxy
        # (its CA added to the host's bundle) builds plans that fetch modules in the image.
        shutil.copyfile(HOST_CA_BUNDLE, root / "etc/ssl/certs/ca-certificates.crt")
    (root / "etc/dpkg/dpkg.cfg.d/choreo-slim").write_text(_DPKG_EXCLUDES)
    (root / "etc/apt/apt.conf.d/docker-clean").write_text(_APT_CLEAN)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _need_debootstrap() -> str:
    tool = shutil.which("debootstrap") or shutil.which("/usr/sbin/debootstrap")
    if tool is None:
        raise HostError(
            f"building {DEBIAN_IMAGE} needs debootstrap; install it with "
            "`sudo apt-get install debootstrap`"
        )
    if os.geteuid() != 0:
        raise HostError(
            f"building {DEBIAN_IMAGE} runs debootstrap, which needs root: "
            "run `sudo choreo images prepare`"
        )
    return tool


def _debootstrap_progress(log: Log, every: float = 5.0) -> Callable[[str], None]:
    """debootstrap prints a line per package per stage (hundreds): pass one on every
    ``every`` seconds, with the time so far, so a slow mirror still shows progress."""
    started = last = time.monotonic()

    def on_line(line: str) -> None:
        nonlocal last
        now = time.monotonic()
        if line.startswith(("I: Base system installed", "E: ", "W: ")) or now - last >= every:
            last = now
            log(f"debootstrap {now - started:.0f} s: {line}")

    return on_line


async def _build_debian(name: str, labels: dict[str, str], facts: dict[str, str], log: Log) -> None:
    tool = _need_debootstrap()
    log(f"debootstrap {facts['suite']} from {facts['mirror']} (about 30 s)")
    with _work_folder() as work:
        root = work / "rootfs"
        argv = [tool, "--variant=minbase", "--include=ca-certificates", facts["suite"]]
        await _run_logged(
            [*argv, str(root), facts["mirror"]],
            _debootstrap_progress(log),
            error=f"debootstrap {facts['suite']} from {facts['mirror']} failed",
        )
        _slim_rootfs(root, facts)
        tarball = work / "rootfs.tar"
        excluded = ["--exclude=./dev/*", "--exclude=./proc/*", "--exclude=./sys/*"]
        await _run_logged(
            ["tar", "--numeric-owner", "-C", str(root), "-cf", str(tarball), *excluded, "."],
            _quiet,
            error="packing the root file system",
        )
        await _docker_import(name, labels, tarball, cmd="bash")


async def _go_facts() -> dict[str, str]:
    if shutil.which("go") is None:
        raise HostError(
            f"{GO_BUILD_IMAGE} copies this host's Go toolchain, but `go` is not on PATH"
        )
    local = dict(os.environ, GOTOOLCHAIN="local")  # report this toolchain, fetch no other
    answer = (await _output("go", "env", "GOROOT", "GOVERSION", env=local)).splitlines()
    if len(answer) != 2 or not all(answer):
        raise HostError(f"`go env GOROOT GOVERSION` answered {answer!r}; is this Go too old?")
    goroot, version = answer
    return {"goroot": goroot, "go": version, "dockerfile": _go_dockerfile(version)}


def _go_dockerfile(version: str) -> str:
    return f"""\
FROM {DEBIAN_IMAGE}
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends git \\
 && rm -rf /var/lib/apt/lists/*
COPY go /usr/local/go
ENV GOLANG_VERSION={version.removeprefix("go")} GOPATH=/go GOTOOLCHAIN=local \\
    PATH=/go/bin:/usr/local/go/bin:{PATH}
RUN mkdir -p /go/src /go/bin && chmod -R 1777 /go
WORKDIR /go
"""


async def _build_from_context(
    name: str, labels: dict[str, str], dockerfile: str, files: dict[str, Path], log: Log
) -> None:
    with _work_folder() as work:
        await _docker_build(name, labels, _write_context(work, dockerfile, files), log)


async def _build_go(name: str, labels: dict[str, str], facts: dict[str, str], log: Log) -> None:
    files = {"go": Path(facts["goroot"])}
    await _build_from_context(name, labels, facts["dockerfile"], files, log)


def _node_paths() -> tuple[Path, Path]:
    """The node binary and the ``node_modules`` folder holding npm (and corepack)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        missing = "node" if node is None else "npm"
        raise HostError(f"{NODE_IMAGE} copies this host's Node, but `{missing}` is not on PATH")
    npm_dir = Path(npm).resolve().parents[1]  # …/node_modules/npm/bin/npm-cli.js
    if not (npm_dir / "package.json").is_file():
        raise HostError(f"cannot find npm's folder from {npm} (expected …/npm/bin/npm-cli.js)")
    return Path(node).resolve(), npm_dir.parent


async def _node_facts() -> dict[str, str]:
    node, modules = _node_paths()
    version = await _output(str(node), "--version")
    npm_version = json.loads((modules / "npm/package.json").read_text()).get("version", "")
    corepack = (modules / "corepack/dist/corepack.js").is_file()
    return {
        "node": str(node),
        "node_version": version,
        "node_modules": str(modules),
        "npm_version": str(npm_version),
        "dockerfile": _node_dockerfile(version, corepack),
    }


def _node_dockerfile(version: str, corepack: bool) -> str:
    links = [
        "ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm",
        "ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx",
    ]
    if corepack:
        links.append("ln -s ../lib/node_modules/corepack/dist/corepack.js /usr/local/bin/corepack")
    users = "groupadd --gid 1000 node && useradd --uid 1000 --gid node -s /bin/bash -m node"
    return f"""\
FROM {DEBIAN_IMAGE}
COPY node /usr/local/bin/node
COPY node_modules /usr/local/lib/node_modules
RUN {" && ".join([*links, users])}
ENV NODE_VERSION={version.removeprefix("v")}
CMD ["node"]
"""


async def _build_node(name: str, labels: dict[str, str], facts: dict[str, str], log: Log) -> None:
    modules = Path(facts["node_modules"])
    files = {"node": Path(facts["node"])}
    files |= {f"node_modules/{p.name}": p for p in (modules / "npm", modules / "corepack")}
    files = {arc: path for arc, path in files.items() if path.exists()}
    await _build_from_context(name, labels, facts["dockerfile"], files, log)


_PYTHON_DOCKERFILE = f"""\
FROM {DEBIAN_IMAGE}
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\
    python3 python3-venv python3-pip \\
 && rm -rf /var/lib/apt/lists/* \\
 && rm -f /usr/lib/python3*/EXTERNALLY-MANAGED \\
 && ln -s /usr/bin/python3 /usr/local/bin/python \\
 && {{ [ -e /usr/bin/pip ] || ln -s /usr/bin/pip3 /usr/local/bin/pip; }}
ENV LANG=C.UTF-8
CMD ["python3"]
"""
"""Debian's python3 is 3.11 in bookworm. EXTERNALLY-MANAGED goes because the upstream
image lets ``pip install`` into the system Python, and plans' Dockerfiles do that."""


async def _python_facts() -> dict[str, str]:
    return {"dockerfile": _PYTHON_DOCKERFILE}


async def _build_python(name: str, labels: dict[str, str], facts: dict[str, str], log: Log) -> None:
    await _build_from_context(name, labels, facts["dockerfile"], {}, log)


def _busybox() -> Path:
    found = shutil.which("busybox") or ("/bin/busybox" if os.path.exists("/bin/busybox") else None)
    if found is None:
        raise HostError(
            f"{RUNTIME_IMAGE} copies this host's static busybox; install it with "
            "`sudo apt-get install busybox-static`"
        )
    return Path(found).resolve()


def is_static_elf(data: bytes) -> bool:
    """Whether ``data`` is an ELF executable without a program interpreter (PT_INTERP):
    only such a binary runs in an image that has no C library."""
    if data[:4] != b"\x7fELF" or data[4] not in (1, 2):
        return False
    order = "<" if data[5] == 1 else ">"
    if data[4] == 2:
        (offset,) = struct.unpack_from(order + "Q", data, 0x20)
        size, count = struct.unpack_from(order + "HH", data, 0x36)
    else:
        (offset,) = struct.unpack_from(order + "I", data, 0x1C)
        size, count = struct.unpack_from(order + "HH", data, 0x2A)
    kinds = (struct.unpack_from(order + "I", data, offset + i * size)[0] for i in range(count))
    return 3 not in kinds


async def _runtime_facts() -> dict[str, str]:
    path = _busybox()
    data = path.read_bytes()
    if not is_static_elf(data):
        raise HostError(
            f"{path} is dynamically linked and would not run in an image without a C "
            "library; install `busybox-static`"
        )
    return {"busybox": str(path), "busybox_sha256": hashlib.sha256(data).hexdigest()}


_PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
_GROUP = "root:x:0:\nnogroup:x:65534:\n"


def _runtime_rootfs(tarball: Path, busybox: Path, applets: Iterable[str]) -> None:
    """The whole runtime image: busybox, a link per applet in /bin (as the upstream image
    lays them out), minimal users and the folders programs expect."""
    with tarfile.open(tarball, "w") as tar:
        for folder, mode in (("bin", 0o755), ("etc", 0o755), ("root", 0o700), ("tmp", 0o1777)):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)
        _add_tree(tar, busybox, "bin/busybox")
        for applet in sorted(set(applets) - {"busybox"}):
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname, link.mode = tarfile.SYMTYPE, "busybox", 0o777
            tar.addfile(link)
        _add_text(tar, "etc/passwd", _PASSWD)
        _add_text(tar, "etc/group", _GROUP)


async def _build_runtime(
    name: str, labels: dict[str, str], facts: dict[str, str], log: Log
) -> None:
    busybox = Path(facts["busybox"])
    applets = [a for a in (await _output(str(busybox), "--list")).split() if "/" not in a]
    with _work_folder() as work:
        tarball = work / "rootfs.tar"
        _runtime_rootfs(tarball, busybox, applets)
        await _docker_import(name, labels, tarball, cmd="sh")


RECIPES: dict[str, Recipe] = {
    "debian": Recipe(_debian_facts, _build_debian),
    "go": Recipe(_go_facts, _build_go),
    "node": Recipe(_node_facts, _build_node),
    "python": Recipe(_python_facts, _build_python),
    "runtime": Recipe(_runtime_facts, _build_runtime),
}


# --- prepare ---------------------------------------------------------------------------


def docker_problem() -> str | None:
    """Why Docker cannot be used here (how to start it included), or None."""
    found = client.problems()
    return "; ".join(found) if found else None


@dataclass
class _Plan:
    """What :func:`prepare` knows before building: which kinds are forced, what each
    name holds now, the host facts of each kind, and what is already decided."""

    forced: set[str]
    existing: dict[str, Existing | None]
    facts: dict[str, dict[str, str]]
    results: dict[str, PreparedImage]
    log: Log


async def prepare(
    kinds: Iterable[str] | None = None,
    *,
    force: bool = False,
    also: Sequence[Alias | tuple[str, str]] = (),
    log: Log = _quiet,
) -> list[PreparedImage]:
    """Make sure the stand-in of every kind in ``kinds`` (default: all) exists under its
    default name, building what is missing or out of date, and what they are built on
    first; then tag each ``also`` alias (``(name, kind)`` pairs, checked as ``--as``
    is). ``force`` rebuilds the kinds asked for (not
    the ones they are merely built on) and replaces images not made here.

    Images that do not depend on each other are built at the same time. Raises HostError
    when Docker or a host tool a missing image needs is unavailable (before building
    anything), InputError for unknown kinds, BuildError when a build fails."""
    aliases = parse_aliases(f"{name}={kind}" for name, kind in also)
    wanted = check_kinds([*(KINDS if kinds is None else kinds), *(a.kind for a in aliases)])
    problem = await asyncio.to_thread(docker_problem)
    if problem:
        raise HostError(problem)
    order = build_order(wanted)
    forced = set(wanted if kinds is None else check_kinds(kinds)) if force else set()
    found = await asyncio.gather(*(existing_image(DEFAULT_IMAGES[k]) for k in order))
    plan = _Plan(forced, dict(zip(order, found, strict=True)), {}, {}, log)
    hint = "; leave those images out with --only KIND" if kinds is None else ""
    await _gather_facts(plan, order, hint)
    await _run_graph(_graph(wanted), lambda kind: _prepare_one(plan, kind))
    tagged = [await _tag_alias(plan, alias, force) for alias in aliases]
    return [plan.results[k] for k in order] + tagged


async def _gather_facts(plan: _Plan, order: Sequence[str], hint: str) -> None:
    """Read every kind's host facts up front, so a missing tool is reported before a
    long build starts. A kind whose tool is missing but whose image exists is kept as it
    is (``skipped``); one whose image is missing too is a HostError."""
    answers = await asyncio.gather(*(RECIPES[k].facts() for k in order), return_exceptions=True)
    missing: list[str] = []
    for kind, answer in zip(order, answers, strict=True):
        if isinstance(answer, HostError):
            existing = plan.existing[kind]
            if existing is None or kind in plan.forced:
                missing.append(str(answer))
                continue
            note = f"cannot check it: {answer}"
            plan.results[kind] = PreparedImage(
                kind, DEFAULT_IMAGES[kind], "skipped", existing.image_id, note=note
            )
        elif isinstance(answer, BaseException):
            raise answer
        else:
            plan.facts[kind] = answer
    if missing:
        raise HostError("; ".join(missing) + hint)


async def _run_graph(
    graph: graphlib.TopologicalSorter[str], step: Callable[[str], Coroutine[None, None, None]]
) -> None:
    """Run ``step`` for every node, each once its dependencies are done, independent
    ones at the same time. The first failure cancels the rest and is raised."""
    graph.prepare()
    running: dict[asyncio.Task[None], str] = {}
    try:
        while graph.is_active():
            for node in graph.get_ready():
                running[asyncio.create_task(step(node))] = node
            done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                graph.done(running.pop(task))
                task.result()
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)


async def _prepare_one(plan: _Plan, kind: str) -> None:
    if kind in plan.results:  # skipped while reading facts
        return
    name, existing = DEFAULT_IMAGES[kind], plan.existing[kind]
    inputs = dict(plan.facts[kind])
    inputs |= {f"base.{dep}": plan.results[dep].image_id for dep in DEPENDS.get(kind, ())}
    key = content_key(kind, inputs)
    decision = decide(existing, key, kind in plan.forced)
    if existing is not None and decision != "build":
        note = "" if decision == "up to date" else "not made by choreo; --force replaces it"
        outcome: Outcome = "up to date" if decision == "up to date" else "skipped"
        plan.results[kind] = PreparedImage(kind, name, outcome, existing.image_id, note=note)
        return
    started = time.monotonic()
    plan.log(f"{kind}: building {name}")
    await RECIPES[kind].build(name, _labels(kind, key), plan.facts[kind], _prefixed(plan, kind))
    built = await existing_image(name)
    if built is None:
        raise BuildError(f"{name} is missing right after it was built")
    note = _replaced(existing)
    if existing is not None and existing.key and existing.image_id != built.image_id:
        await client.docker("image", "rm", existing.image_id, check=False)
    seconds = time.monotonic() - started
    plan.results[kind] = PreparedImage(kind, name, "built", built.image_id, seconds, note)
    plan.log(f"{kind}: built {name} in {seconds:.1f} s")


def _prefixed(plan: _Plan, kind: str) -> Log:
    return lambda line: plan.log(f"{kind}: {line}")


def _replaced(existing: Existing | None) -> str:
    if existing is None:
        return ""
    return "replaced an image not made by choreo" if not existing.key else ""


async def _tag_alias(plan: _Plan, alias: Alias, force: bool) -> PreparedImage:
    """Tag the stand-in of ``alias.kind`` as ``alias.name`` (see :func:`decide_alias`)."""
    target = plan.results[alias.kind]
    existing = await existing_image(alias.name)
    decision = decide_alias(existing, target.image_id, force)
    if existing is not None and decision == "up to date":
        return PreparedImage(alias.kind, alias.name, "up to date", existing.image_id)
    if existing is not None and decision == "foreign":
        note = "not made by choreo; --force replaces it"
        return PreparedImage(alias.kind, alias.name, "skipped", existing.image_id, note=note)
    await client.docker("tag", target.image_id, alias.name, error=BuildError)
    note = _replaced(existing)
    return PreparedImage(alias.kind, alias.name, "tagged", target.image_id, note=note)
