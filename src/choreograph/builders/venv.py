"""One virtual environment per distinct dependency set, content-addressed and shared by
every plan and group that resolves to the same set.

Layout: ``<builds>/_envs/python/<key>/`` is a venv; its ``choreo-env.json`` (written
last) marks it complete and holds the freeze. The key hashes the Python version, the
installer, the requirements, the *contents* of local source trees and the SDK link, so
an unchanged set is reused and any change makes a new environment.

Decisions, and why:

- **Built in place, under a lock.** Venvs are not relocatable (scripts carry absolute
  shebangs), so an environment cannot be made elsewhere and renamed. A per-key
  ``flock`` keeps two builds of one key apart; a folder without the completion marker
  is half-built and is wiped before building again, never reused.
- **Local trees are built, not editable.** An editable install would change under its
  key whenever the checkout changes; a built install is a snapshot that matches the
  key. The tree is copied first (so the build tool cannot write ``build/`` or
  ``*.egg-info`` into the user's checkout, and what is installed is what was hashed).
- **The SDK is the host's own code, linked.** A ``.pth`` file puts a folder holding only
  a symlink to the host's ``choreograph`` package on ``sys.path``: no build backend,
  no network, ~0 ms, and instances always run exactly the host's SDK (a dev checkout's
  edits included, which a wheel built "once per version" would miss, since the version
  string does not change with the code). The SDK's one dependency, ``websockets``, is
  installed at the host's version. Nothing else of the host leaks in (no
  ``--system-site-packages``).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import choreograph
from choreograph.builders.cache import source_files
from choreograph.builders.installer import Installer, env_python
from choreograph.builders.requirements import DependencySet, Requirement, canonical_name
from choreograph.errors import BuildError

ENVS_DIR = Path("_envs") / "python"
SDK_DIR = "_sdk"
MARKER = "choreo-env.json"
SDK_PTH = "_choreograph_sdk.pth"
SDK_DEPENDENCIES = ("websockets",)

# Build outputs at the top of a local tree (besides the caches ``source_files`` skips):
# not sources, and a build tool run in the checkout would change them.
_LOCAL_OUTPUTS = frozenset({"build", "dist"})


@dataclass(frozen=True)
class Environment:
    key: str
    path: Path
    freeze: tuple[str, ...]
    versions: dict[str, str]
    installer: str
    from_cache: bool
    local: dict[str, dict[str, str]]
    """Per local-tree override: the path it was copied from and its content digest."""

    @property
    def python(self) -> Path:
        return env_python(self.path)


def sdk_pins() -> list[str]:
    """The SDK's dependencies at the host's versions."""
    return [f"{name}=={metadata.version(name)}" for name in SDK_DEPENDENCIES]


def _sdk_range(name: str) -> str:
    """What the SDK declares it needs of ``name`` (``websockets>=13``): used instead of the
    host's exact version when the plan names that project itself, so the plan can test
    another version of it while the resolver still keeps the SDK working."""
    for requirement in metadata.requires("choreograph") or []:
        if (
            ";" not in requirement
            and canonical_name(re.split(r"[<>=!~ \[]", requirement)[0]) == name
        ):
            return requirement
    return name


def sdk_package() -> Path:
    return Path(choreograph.__file__).resolve().parent


def envs_root(builds_dir: Path) -> Path:
    return builds_dir / ENVS_DIR


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in _local_files(root):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _local_files(root: Path) -> list[Path]:
    def source(parts: tuple[str, ...]) -> bool:
        outputs = parts[0] in _LOCAL_OUTPUTS and len(parts) > 1
        return not outputs and not any(part.endswith(".egg-info") for part in parts)

    return [p for p in source_files(root) if source(p.relative_to(root).parts)]


def _local_trees(deps: DependencySet, what: str) -> dict[str, dict[str, str]]:
    trees = {}
    for req in deps.requirements:
        if req.local is None:
            continue
        if not req.local.is_dir():
            raise BuildError(
                f"{what}: dependency {req.spec!r}: local path {req.local} does not exist "
                "or is not a folder (a path in a composition is relative to the composition file)"
            )
        trees[req.name] = {"path": str(req.local), "digest": tree_digest(req.local)}
    return trees


def environment_key(deps: DependencySet, installer: str, local: dict[str, dict[str, str]]) -> str:
    material: dict[str, Any] = {
        "python": sys.version,
        "interpreter": os.path.realpath(sys.executable),
        "installer": installer,
        "requirements": [
            f"{r.name} @ {local[r.name]['digest']}" if r.name in local else r.spec
            for r in deps.requirements
        ],
        "sdk": [str(sdk_package()), *sdk_pins()],
    }
    blob = json.dumps(material, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def sdk_link(builds_dir: Path) -> Path:
    """A folder holding only ``choreograph`` → the host's package (made when missing)."""
    package = sdk_package()
    folder = builds_dir / SDK_DIR / hashlib.sha256(str(package).encode()).hexdigest()[:12]
    link = folder / "choreograph"
    if not link.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        temp = folder / f".choreograph-{os.getpid()}"
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        temp.symlink_to(package, target_is_directory=True)
        os.replace(temp, link)
    return folder


async def ensure_environment(
    builds_dir: Path,
    deps: DependencySet,
    installer: Installer,
    log: Callable[[str], None],
    what: str,
) -> Environment:
    """The environment for ``deps``: reused when complete, else built and marked complete."""
    local = _local_trees(deps, what)
    key = environment_key(deps, installer.kind, local)
    path = envs_root(builds_dir) / key
    sdk = sdk_link(builds_dir)
    if (found := _complete(path, key, local)) is not None:
        log(f"environment {key} reused ({', '.join(deps.lines()) or 'SDK only'})")
        return found
    async with _locked(path, log, key):
        if (found := _complete(path, key, local)) is not None:
            return found  # another process finished it while we waited
        shutil.rmtree(path, ignore_errors=True)  # half-built: never reused
        log(f"environment {key}: creating with {installer.name}")
        try:
            await installer.create(path, log, what)
            _link_sdk(path, sdk)
            requirements = _write_requirements(path, deps)
            log(f"environment {key}: installing {', '.join(deps.lines()) or 'the SDK only'}")
            await _install(installer, path, requirements, deps, log, what)
            freeze = await installer.freeze(path, what)
            versions = installed_versions(path)
            marker = {
                "key": key,
                "installer": installer.name,
                "freeze": freeze,
                "versions": versions,
                "local": local,
            }
            _write_atomic(path / MARKER, json.dumps(marker, indent=2))
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)
            raise
    return Environment(key, path, tuple(freeze), versions, installer.name, False, local)


def _complete(path: Path, key: str, local: dict[str, dict[str, str]]) -> Environment | None:
    try:
        marker = json.loads((path / MARKER).read_text())
    except (FileNotFoundError, ValueError):
        return None
    freeze = tuple(marker.get("freeze", ()))
    versions = dict(marker.get("versions", {}))
    return Environment(key, path, freeze, versions, str(marker.get("installer", "")), True, local)


def installed_versions(env: Path) -> dict[str, str]:
    """Project → version of everything installed, from the dist-info folder names: a
    local tree's version shows here even where the freeze gives only its URL."""
    found = {}
    for dist in env.glob("lib/python*/site-packages/*.dist-info"):
        name, _, version = dist.name.removesuffix(".dist-info").partition("-")
        found[canonical_name(name)] = version
    return dict(sorted(found.items()))


def _link_sdk(env: Path, sdk: Path) -> None:
    site = next(env.glob("lib/python*/site-packages"), None)
    if site is None:
        raise BuildError(f"environment {env}: no site-packages folder after creating it")
    (site / SDK_PTH).write_text(str(sdk) + "\n")


def _write_requirements(env: Path, deps: DependencySet) -> Path:
    """The installer's input: plan requirements (local trees as copies) + the SDK's own."""
    lines = []
    for req in deps.requirements:
        lines.append(_local_line(env, req) if req.local is not None else req.spec)
    names = {r.name for r in deps.requirements}
    lines += [
        pin if name not in names else _sdk_range(name)
        for name, pin in zip(SDK_DEPENDENCIES, sdk_pins(), strict=True)
    ]
    path = env / "choreo-requirements.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def _local_line(env: Path, req: Requirement) -> str:
    assert req.local is not None
    copy = env / "choreo-sources" / req.name
    copy.parent.mkdir(parents=True, exist_ok=True)
    for src in _local_files(req.local):
        dest = copy / src.relative_to(req.local)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)
    project = req.spec.split(" @ ", 1)[0]
    return f"{project} @ {copy.as_uri()}"


async def _install(
    installer: Installer,
    env: Path,
    requirements: Path,
    deps: DependencySet,
    log: Callable[[str], None],
    what: str,
) -> None:
    ticker = asyncio.create_task(_heartbeat(env.name, log))
    try:
        await installer.install(env, requirements, log, what)
    except BuildError as exc:
        # The installer's own output, past run_tool's header line and uv's chatter.
        lines = str(exc).splitlines()[1:]
        said = "\n".join(x for x in lines if not x.startswith("Using Python"))
        named = ", ".join(f"{r.spec} ({r.origin})" for r in deps.naming(said))
        raise BuildError(
            f"{what}: installing dependency {named or ', '.join(sdk_pins()) + ' (SDK)'} failed; "
            f"{installer.name} said:\n{said}"
        ) from None
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker


async def _heartbeat(key: str, log: Callable[[str], None], every_s: float = 5.0) -> None:
    """A line every few seconds while an install is quiet (uv prints no progress bars
    without a terminal), so a long install shows it is still going."""
    waited = 0.0
    while True:
        await asyncio.sleep(every_s)
        waited += every_s
        log(f"environment {key}: still installing ({waited:.0f}s)")


@contextlib.asynccontextmanager
async def _locked(path: Path, log: Callable[[str], None], key: str) -> AsyncIterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f"{key}.lock", "w") as handle:
        waiting = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waiting:
                    log(f"environment {key}: waiting for another build of it")
                    waiting = True
                await asyncio.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_atomic(path: Path, text: str) -> None:
    temp = path.with_name(f".{path.name}.{os.getpid()}")
    temp.write_text(text)
    os.replace(temp, path)
