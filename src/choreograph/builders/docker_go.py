"""Builder ``docker:go``: Testground's Go plans as images, built the way Testground's
``docker:go`` builds them, so plans (and their ``dockerfile_extensions``) work unchanged.

The build context mirrors the image's root: the plan at ``plan/`` (its Go module at
``plan/<path>``, so ``$PLAN_DIR`` is ``/plan/<path>``), next to the folders the
module's relative ``replace`` directives point at outside the plan (``replace … =>
../sdk`` finds ``/sdk``), which are copied in from the host. A two-stage Dockerfile
(:func:`go_dockerfile`) downloads modules, copies the sources, builds
``$PLAN_DIR/testplan.bin`` with the selectors as build tags, writes ``go list -m all`` to
``/testground_dep_list`` and copies the binary to ``/testplan`` in the runtime image,
whose entrypoint it is. The eight ``dockerfile_extensions`` hooks go where Testground
puts them.

Configuration keys (Testground's): ``module_path``, ``exec_pkg``, ``fresh_gomod``,
``path``, ``modfile`` (as in ``exec:go``: prepared on the host), ``build_base_image``
(default :data:`GO_BUILD_IMAGE`), ``runtime_image`` (default :data:`RUNTIME_IMAGE`; with
``enable_cgo``, :data:`DEBIAN_IMAGE`: a cgo binary links the build image's glibc
dynamically, and busybox's glibc lacks libraries such binaries load, while Debian's
matches the bookworm build image exactly), ``skip_runtime_image``, ``enable_cgo``,
``enable_go_build_cache``, ``dockerfile_extensions``, ``go_proxy_mode``,
``go_proxy_url``. Per-group ``dependencies`` become ``replace`` directives as in
``exec:go`` (a ``path`` dependency is copied into the context).

``go_proxy_mode`` (default ``local``, as in Testground):

- ``local``: the host resolves the modules (``go mod tidy``, ``go mod download``, in
  the host's module cache, ``go env GOMODCACHE``) and the build reads exactly the
  modules it needs from a ``file://`` proxy inside the context. Builds need no network
  in the container, work offline once the host has the modules, and a warm build
  downloads nothing. (Testground runs a proxy container instead.) ``GOSUMDB`` is off in
  the build: the host's ``go`` checked every module against the checksum database and
  ``go.sum`` when it fetched it.
- ``direct``: the build fetches from the origin (``GOPROXY=direct``);
- ``remote``: the build uses ``go_proxy_url``.

``enable_go_build_cache`` keeps, per plan, an image of the first build's builder stage
(``choreograph/go-build-cache-<plan>``, Go's build and module caches inside) and builds
on it afterwards, as Testground does; only with the default build image, as there.
Testground's ``go_version`` (superseded by ``build_base_image``) and
``docker_build_image`` (a spelling Testground never read) are accepted and reported in
the build log, since Testground plans still set them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from posixpath import normpath, relpath
from typing import Any

from choreograph.builders.base import BuildContext
from choreograph.builders.cache import IGNORED_DIRS, build_key
from choreograph.builders.docker_generic import PLAN_DIR, describe, plan_subdir
from choreograph.builders.exec_go import (
    _replacement,
    _use_modfile,
    go_version,
    without_module_index,
)
from choreograph.builders.staging import build_root
from choreograph.builders.tool import run_tool
from choreograph.builders.venv import tree_digest
from choreograph.containers import client
from choreograph.containers.build import (
    Built,
    ImageJob,
    Recipe,
    builder_stage_image,
    cached_or_built,
    copy_tree,
    image_artifact,
    image_ids,
    image_tag,
    read_file,
)
from choreograph.containers.client import image_exists
from choreograph.containers.images import DEBIAN_IMAGE, GO_BUILD_IMAGE, RUNTIME_IMAGE
from choreograph.errors import BuildError
from choreograph.plan.spec import Artifact, BuildRequest, Dependency

HOOKS = (
    "pre_mod_download",
    "post_mod_download",
    "pre_source_copy",
    "post_source_copy",
    "pre_build",
    "post_build",
    "pre_runtime_copy",
    "post_runtime_copy",
)
PROXY_DIR = ".choreo-goproxy"
"""The local module proxy in the context; copied to ``/choreo/goproxy`` alone."""
CONTAINER_PROXY = "/choreo/goproxy"
DEPS_DIR = "choreo-deps"
"""Per-group ``path`` dependencies in the context (and at ``/choreo-deps`` in the image)."""
DEP_LIST = "/testground_dep_list"
IGNORED_KEYS = ("go_version", "docker_build_image")


@dataclass(frozen=True)
class GoDockerfile:
    """What shapes the generated Dockerfile (everything else goes in as build args)."""

    hooks: dict[str, str]
    copies: tuple[str, ...]
    """Top-level context entries copied to the image root (``plan``, ``sdk``, …)."""
    skip_runtime_image: bool = False
    cgo: bool = False
    local_proxy: bool = False
    module_mods: tuple[str, ...] = ()
    """Image folders of locally replaced modules: their go.mod goes in before the module
    download, which reads it (Testground does this for a linked SDK's ``/sdk``)."""


def go_dockerfile(spec: GoDockerfile) -> str:
    """The two-stage Dockerfile, hooks at Testground's eight points."""
    hook = spec.hooks.get
    lines = [
        "ARG BUILD_BASE_IMAGE",
        "ARG RUNTIME_IMAGE",
        "",
        "FROM ${BUILD_BASE_IMAGE} AS builder",
        "ARG PLAN_PATH",
        "ENV PLAN_DIR=/plan/${PLAN_PATH}",
        "ENV SDK_DIR=/sdk",
        "# A build cache image holds the previous build's files: start clean.",
        "RUN rm -rf ${PLAN_DIR} ${SDK_DIR} " + DEP_LIST + " /choreo",
        'ARG TESTPLAN_EXEC_PKG="."',
        "ARG GO_PROXY=direct",
        "ARG BUILD_TAGS",
        "ENV TESTPLAN_EXEC_PKG=${TESTPLAN_EXEC_PKG}",
        "ENV GOCACHE=/go/cache",
        "# No module index: it fails on unparsable files excluded by tags (exec_go.py).",
        "ENV GODEBUG=goindex=0",
        'ARG MODFILE="go.mod"',
        'ARG MODFILE_SUM="go.sum"',
    ]
    if spec.local_proxy:
        lines += ["ENV GOSUMDB=off GOTOOLCHAIN=local", f"COPY {PROXY_DIR} {CONTAINER_PROXY}"]
    lines += [
        hook("pre_mod_download", ""),
        "# Modules first, alone: this layer is reused while go.mod and go.sum stay the same.",
        "COPY plan/${PLAN_PATH}/${MODFILE} ${PLAN_DIR}/go.mod",
        "COPY plan/${PLAN_PATH}/${MODFILE_SUM} ${PLAN_DIR}/go.sum",
        *(f"COPY {d.lstrip('/')}/go.mod {d}/go.mod" for d in spec.module_mods),
        'RUN cd ${PLAN_DIR} && echo "module proxy: ${GO_PROXY}" '
        '&& go env -w GOPROXY="${GO_PROXY}" && go mod download',
        hook("post_mod_download", ""),
        hook("pre_source_copy", ""),
        "# The sources may carry another go.mod: keep the one prepared above.",
        "RUN cp ${PLAN_DIR}/go.mod ${PLAN_DIR}/go.sum /tmp/",
        *(f"COPY {entry} /{entry}" for entry in spec.copies),
        "RUN cp /tmp/go.mod /tmp/go.sum ${PLAN_DIR}/",
        hook("post_source_copy", ""),
        hook("pre_build", ""),
        'RUN cd ${PLAN_DIR} && go env -w GOPROXY="${GO_PROXY}" '
        f"&& CGO_ENABLED={int(spec.cgo)} GOOS=linux "
        "go build -o ${PLAN_DIR}/testplan.bin ${BUILD_TAGS} ${TESTPLAN_EXEC_PKG}",
        hook("post_build", ""),
        f"RUN cd ${{PLAN_DIR}} && go list -m all > {DEP_LIST}",
        "",
    ]
    if spec.skip_runtime_image:
        lines += [
            "FROM builder AS runtime",
            "ARG PLAN_PATH",
            "ENV PLAN_DIR=/plan/${PLAN_PATH}",
            "RUN mv ${PLAN_DIR}/testplan.bin /testplan",
        ]
    else:
        lines += [
            "FROM ${RUNTIME_IMAGE} AS runtime",
            "ARG PLAN_PATH",
            "ENV PLAN_DIR=/plan/${PLAN_PATH}",
            hook("pre_runtime_copy", ""),
            f"COPY --from=builder {DEP_LIST} /",
            "COPY --from=builder ${PLAN_DIR}/testplan.bin /testplan",
            hook("post_runtime_copy", ""),
        ]
    lines += ["EXPOSE 6060", 'ENTRYPOINT ["/testplan"]', ""]
    return "\n".join(line for line in lines if line is not None)


def container_dir(plan_path: str, target: str) -> str:
    """Where a module-relative ``replace`` target lands in the image: resolved from
    ``/plan/<plan_path>``, as the build resolves it."""
    return normpath(f"/plan/{plan_path}/{target}") if plan_path else normpath(f"/plan/{target}")


def relative_from_module(plan_path: str, container_path: str) -> str:
    """``container_path`` relative to the module folder, ``./``-prefixed as ``replace``
    requires of a folder."""
    start = f"/plan/{plan_path}" if plan_path else "/plan"
    found = relpath(container_path, start)
    return found if found.startswith("../") else f"./{found}"


PROXY_MODES = ("local", "direct", "remote")
_RESERVED_TOPS = frozenset({"", "Dockerfile", PROXY_DIR, DEPS_DIR, "choreo", PLAN_DIR})


@dataclass(frozen=True)
class GoConfig:
    """The build config, checked and with Testground's defaults applied."""

    module_path: str = ""
    exec_pkg: str = "."
    fresh_gomod: bool = False
    path: str = ""
    """The module's folder inside the plan, normalised ("" = the plan itself)."""
    modfile: str = ""
    build_base_image: str = GO_BUILD_IMAGE
    runtime_image: str = RUNTIME_IMAGE
    skip_runtime_image: bool = False
    enable_go_build_cache: bool = False
    cgo: bool = False
    hooks: tuple[tuple[str, str], ...] = ()
    proxy_mode: str = "local"
    proxy_url: str = ""
    ignored: tuple[str, ...] = ()
    """Keys set that Testground itself does not read (reported in the build log)."""

    @property
    def plan_path(self) -> str:
        """``PLAN_PATH`` as the Dockerfile gets it: empty for the plan itself, so
        ``$PLAN_DIR`` is ``/plan/`` (``/plan/.`` would make ``rm -rf`` refuse it)."""
        return self.path


def _text(config: dict[str, Any], key: str, default: str, what: str) -> str:
    value = config.get(key, default)
    if not isinstance(value, str):
        raise BuildError(f"{what}: {key} must be a string, found {value!r}")
    return value or default


def _flag(config: dict[str, Any], key: str, what: str) -> bool:
    value = config.get(key, False)
    if not isinstance(value, bool):
        raise BuildError(f"{what}: {key} must be true or false, found {value!r}")
    return value


def _hooks(value: object, what: str) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    unknown = sorted(set(value) - set(HOOKS)) if isinstance(value, dict) else []
    if (
        not isinstance(value, dict)
        or unknown
        or not all(isinstance(v, str) for v in value.values())
    ):
        raise BuildError(
            f"{what}: dockerfile_extensions must be a table of Dockerfile text by hook; "
            f"hooks: {', '.join(HOOKS)}; found {value!r}"
        )
    return tuple((hook, value[hook]) for hook in HOOKS if value.get(hook))


def read_config(config: dict[str, Any], what: str) -> GoConfig:
    """Check every key's type and the combinations Testground refuses; BuildError."""
    cgo = _flag(config, "enable_cgo", what)
    cfg = GoConfig(
        module_path=_text(config, "module_path", "", what),
        exec_pkg=_text(config, "exec_pkg", ".", what),
        fresh_gomod=_flag(config, "fresh_gomod", what),
        path=plan_subdir(config.get("path", ""), what),
        modfile=_text(config, "modfile", "", what),
        build_base_image=_text(config, "build_base_image", GO_BUILD_IMAGE, what),
        runtime_image=_text(config, "runtime_image", DEBIAN_IMAGE if cgo else RUNTIME_IMAGE, what),
        skip_runtime_image=_flag(config, "skip_runtime_image", what),
        enable_go_build_cache=_flag(config, "enable_go_build_cache", what),
        cgo=cgo,
        hooks=_hooks(config.get("dockerfile_extensions"), what),
        proxy_mode=_text(config, "go_proxy_mode", "local", what).strip(),
        proxy_url=_text(config, "go_proxy_url", "", what),
        ignored=tuple(k for k in IGNORED_KEYS if k in config),
    )
    problem = _combination_problem(cfg)
    if problem:
        raise BuildError(f"{what}: {problem}")
    return cfg


def _combination_problem(cfg: GoConfig) -> str:
    if cfg.fresh_gomod and (cfg.path or cfg.modfile):
        return "fresh_gomod cannot be combined with path or modfile"
    if cfg.fresh_gomod and not cfg.module_path:
        return "fresh_gomod needs module_path in the build config"
    if cfg.proxy_mode not in PROXY_MODES:
        return f"go_proxy_mode = {cfg.proxy_mode!r}: expected one of {', '.join(PROXY_MODES)}"
    if cfg.proxy_mode == "remote" and not cfg.proxy_url:
        return "go_proxy_mode = 'remote' needs go_proxy_url"
    if cfg.proxy_url and cfg.proxy_mode != "remote":
        return f"go_proxy_url is used only with go_proxy_mode = 'remote' (not {cfg.proxy_mode!r})"
    if cfg.enable_go_build_cache and cfg.build_base_image != GO_BUILD_IMAGE:
        return (
            "enable_go_build_cache works only with the default build_base_image "
            f"({GO_BUILD_IMAGE}), as in Testground"
        )
    return ""


def local_replace_targets(gomod: str) -> list[str]:
    """The folder targets (``./x``, ``../x``) of a go.mod's ``replace`` directives."""
    targets: list[str] = []
    in_block = False
    for raw in gomod.splitlines():
        line = raw.split("//", 1)[0].strip()
        if in_block:
            if line == ")":
                in_block = False
                continue
        elif re.match(r"replace\s*\(", line):
            in_block = True
            continue
        elif line.startswith("replace "):
            line = line[len("replace ") :]
        else:
            continue
        right = line.partition("=>")[2].split()
        target = right[0].strip('"') if right else ""
        if target in (".", "..") or target.startswith(("./", "../")):
            targets.append(target)
    return targets


def replaced_folders(plan_dir: Path, cfg: GoConfig, what: str) -> dict[str, Path]:
    """Image path → host folder, for each relative ``replace`` target of the module that
    exists (a missing one is left to fail as in Testground, with Go's own message)."""
    gomod = plan_dir / cfg.path / (cfg.modfile or "go.mod")
    if cfg.fresh_gomod or not gomod.is_file():
        return {}
    found: dict[str, Path] = {}
    for target in local_replace_targets(gomod.read_text()):
        inside = container_dir(cfg.path, target)
        top = inside.strip("/").split("/")[0]
        if top in _RESERVED_TOPS and not _in_plan(inside):
            raise BuildError(
                f"{what}: replace target {target!r} would land on {inside} in the image"
            )
        host = (plan_dir / cfg.path / target).resolve()
        if host.is_dir():
            found[inside] = host
    return found


def _in_plan(inside: str) -> bool:
    return inside == "/plan" or inside.startswith("/plan/")


def outside_folders(plan_dir: Path, cfg: GoConfig, what: str) -> dict[str, Path]:
    """The :func:`replaced_folders` outside the plan: copied into the context from the
    host (``replace … => ../sdk`` finds ``/sdk``); inside ones come with the plan."""
    replaced = replaced_folders(plan_dir, cfg, what)
    return {inside: host for inside, host in replaced.items() if not _in_plan(inside)}


def _escape(text: str) -> str:
    """Module cache path escaping: each capital letter becomes ``!`` + its lower case."""
    return re.sub(r"[A-Z]", lambda m: "!" + m.group(0).lower(), text)


def _json_objects(text: str) -> list[dict[str, Any]]:
    """``go list -m -json`` prints one JSON object after another."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while (at := _skip_space(text, at)) < len(text):
        item, at = decoder.raw_decode(text, at)
        found.append(item)
    return found


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at].isspace():
        at += 1
    return at


def _link_or_copy(source: Path, dest: Path) -> None:
    """Hard links when the cache and the context share a file system: module zips can
    weigh megabytes, and the context is thrown away after the build."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, dest)
    except OSError:
        shutil.copy2(source, dest)


def copy_module(cache: Path, proxy: Path, module: str, version: str) -> None:
    """One module version into the ``file://`` proxy: its ``.info``, ``.mod`` and zip,
    plus every ``.mod`` the host has of the module (loading the module graph reads the
    go.mod of versions the build does not use), and the ``list`` of what it holds."""
    source = cache / _escape(module) / "@v"
    dest = proxy / _escape(module) / "@v"
    if not source.is_dir():
        return
    wanted = {f"{_escape(version)}.zip", f"{_escape(version)}.info"}
    for item in source.iterdir():
        if (item.suffix == ".mod" or item.name in wanted) and not (dest / item.name).exists():
            _link_or_copy(item, dest / item.name)
    versions = sorted(p.name.removesuffix(".mod") for p in dest.glob("*.mod"))
    (dest / "list").write_text("".join(f"{v}\n" for v in versions))


async def local_proxy(
    src: Path, proxy: Path, env: dict[str, str], ctx: BuildContext, what: str
) -> None:
    """Fetch on the host what the build will ask for (``go mod download``, as the
    Dockerfile runs it), then copy those modules from the host's cache into ``proxy``."""
    ctx.log("go mod download (host module cache)")
    await run_tool(["go", "mod", "download"], src, ctx.log, what, env)
    listed = await run_tool(["go", "list", "-m", "-json", "all"], src, _quiet, what, env)
    cache_root = await run_tool(["go", "env", "GOMODCACHE"], src, _quiet, what, env)
    cache = Path(cache_root.strip()) / "cache" / "download"
    for module in _json_objects(listed):
        for item in (module, module.get("Replace") or {}):
            if item.get("Path") and item.get("Version"):
                copy_module(cache, proxy, str(item["Path"]), str(item["Version"]))
    proxy.mkdir(parents=True, exist_ok=True)


def _quiet(_: str) -> None:
    """Listings are read, not shown."""


def host_go_env() -> dict[str, str]:
    """The user's Go settings (their module cache and proxy), with two guards: Go uses
    the toolchain it is (no download of another), and no ``go.work`` above the build
    folder joins the plan's module to others."""
    env = {**os.environ, "GOTOOLCHAIN": "local", "GOWORK": "off"}
    return {**env, "GODEBUG": without_module_index(env)}


def needs_host_go(cfg: GoConfig, deps: list[Dependency]) -> bool:
    return cfg.proxy_mode == "local" or cfg.fresh_gomod or bool(deps)


def tidies(cfg: GoConfig) -> bool:
    """``go mod tidy`` on the host: in ``local`` mode (so go.sum holds what the offline
    build needs) and with ``fresh_gomod`` (a new go.mod requires nothing yet). Not in
    ``direct``/``remote`` modes: there the build fetches, as in Testground."""
    return cfg.proxy_mode == "local" or cfg.fresh_gomod


async def prepare_module(
    src: Path,
    cfg: GoConfig,
    replacements: list[str],
    ctx: BuildContext,
    what: str,
) -> None:
    """The module as the build gets it: modfile applied, fresh go.mod, replacements,
    tidied when :func:`tidies`; go.sum present (the Dockerfile copies it)."""
    env = host_go_env()
    if cfg.modfile:
        _use_modfile(src, cfg.modfile, what)
    if cfg.fresh_gomod:
        for name in ("go.mod", "go.sum"):
            (src / name).unlink(missing_ok=True)
        await run_tool(["go", "mod", "init", cfg.module_path], src, ctx.log, what, env)
    elif not (src / "go.mod").is_file():
        raise BuildError(
            f"{what}: no go.mod in the plan's {cfg.path or '.'} folder "
            "(or set fresh_gomod = true and module_path)"
        )
    for replacement in replacements:
        await run_tool(["go", "mod", "edit", f"-replace={replacement}"], src, ctx.log, what, env)
    if tidies(cfg):
        ctx.log("go mod tidy (host)")
        await run_tool(["go", "mod", "tidy"], src, ctx.log, what, env)
    (src / "go.sum").touch()


@dataclass(frozen=True)
class Replacements:
    """Per-group dependencies as ``go mod edit -replace`` arguments."""

    edits: tuple[str, ...]
    folders: tuple[tuple[str, Path], ...]
    """Context folder → host folder, for ``path`` dependencies (copied in)."""
    material: tuple[str, ...]
    """What the build key hashes: versions as written, folders by content."""


def replacements(deps: list[Dependency], cfg: GoConfig, plan_dir: Path, what: str) -> Replacements:
    """``module=target@version`` as exec:go writes it; a ``path`` dependency is copied to
    ``choreo-deps/<n>`` and replaced by that folder, relative to the module (so the
    host's ``go mod tidy`` and the build both find it)."""
    edits, folders, material = [], [], []
    for index, dep in enumerate(deps):
        if not dep.version and not dep.path:
            raise BuildError(f"{what}: dependency {dep.module!r} needs a version or a path")
        if dep.path:
            host = Path(dep.path) if Path(dep.path).is_absolute() else plan_dir / dep.path
            if not host.is_dir():
                raise BuildError(f"{what}: dependency {dep.module!r}: {host} is not a folder")
            inside = f"{DEPS_DIR}/{index}"
            edits.append(f"{dep.module}={relative_from_module(cfg.path, '/' + inside)}")
            folders.append((inside, host.resolve()))
            material.append(f"{dep.module} @ {tree_digest(host)}")
        else:
            edits.append(_replacement(dep, plan_dir))
            material.append(edits[-1])
    return Replacements(tuple(edits), tuple(folders), tuple(material))


def _copies(outside: dict[str, Path], deps: Replacements) -> tuple[str, ...]:
    tops = {PLAN_DIR, *(inside.strip("/").split("/")[0] for inside in outside)}
    return tuple(sorted(tops | ({DEPS_DIR} if deps.folders else set())))


def _module_mods(replaced: dict[str, Path], deps: Replacements) -> tuple[str, ...]:
    found = [inside for inside, host in replaced.items() if (host / "go.mod").is_file()]
    found += [f"/{folder}" for folder, host in deps.folders if (host / "go.mod").is_file()]
    return tuple(sorted(found))


def _stage_sources(
    context: Path, plan_dir: Path, outside: dict[str, Path], deps: Replacements
) -> None:
    copy_tree(plan_dir, context / PLAN_DIR, IGNORED_DIRS)
    placed: list[str] = []
    for inside in sorted(outside):
        if not any(inside.startswith(f"{done}/") for done in placed):
            copy_tree(outside[inside], context / inside.lstrip("/"), IGNORED_DIRS)
            placed.append(inside)
    for folder, host in deps.folders:
        copy_tree(host, context / folder, IGNORED_DIRS)


def _proxy_url(cfg: GoConfig) -> str:
    return {"local": f"file://{CONTAINER_PROXY}", "direct": "direct"}.get(
        cfg.proxy_mode, cfg.proxy_url
    )


def _report_unread(request: BuildRequest, cfg: GoConfig, ctx: BuildContext) -> None:
    for key in cfg.ignored:
        ctx.log(
            f"warning: {key!r} is not a setting of Testground's docker:go (it never read it); "
            "ignored here too: set build_base_image to choose the Go image"
        )
    if cfg.skip_runtime_image and "runtime_image" in request.config:
        ctx.log("warning: runtime_image is unused with skip_runtime_image = true")


class DockerGoBuilder:
    id = "docker:go"
    config_keys = (
        "module_path",
        "exec_pkg",
        "fresh_gomod",
        "path",
        "modfile",
        "build_base_image",
        "runtime_image",
        "skip_runtime_image",
        "enable_go_build_cache",
        "enable_cgo",
        "dockerfile_extensions",
        "go_proxy_mode",
        "go_proxy_url",
        *IGNORED_KEYS,
    )

    def problems(self) -> list[str]:
        return client.problems()

    async def build(self, request: BuildRequest, ctx: BuildContext) -> Artifact:
        what = describe(request)
        cfg = read_config(request.config, what)
        deps = sorted(request.dependencies, key=lambda d: d.module)
        if needs_host_go(cfg, deps) and shutil.which("go") is None:
            raise BuildError(
                f"{what}: go is not installed on this host; it prepares the module for "
                "go_proxy_mode = 'local', fresh_gomod and dependencies (install Go, or "
                "use go_proxy_mode = 'direct' without those)"
            )
        _report_unread(request, cfg, ctx)
        replaced = replaced_folders(request.plan_dir, cfg, what)
        outside = {inside: host for inside, host in replaced.items() if not _in_plan(inside)}
        edits = replacements(deps, cfg, request.plan_dir, what)
        spec = GoDockerfile(
            dict(cfg.hooks),
            _copies(outside, edits),
            cfg.skip_runtime_image,
            cfg.cgo,
            cfg.proxy_mode == "local",
            _module_mods(replaced, edits),
        )
        dockerfile = go_dockerfile(spec)
        images = [cfg.build_base_image, *([] if cfg.skip_runtime_image else [cfg.runtime_image])]
        bases = await image_ids(images, what)
        tags = sorted(request.selectors)
        args = {
            "RUNTIME_IMAGE": cfg.runtime_image,
            "PLAN_PATH": cfg.plan_path,
            "TESTPLAN_EXEC_PKG": cfg.exec_pkg,
            "GO_PROXY": _proxy_url(cfg),
            "BUILD_TAGS": f"-tags {','.join(tags)}" if tags else "",
            "MODFILE": "go.mod",
            "MODFILE_SUM": "go.sum",
        }
        material = {
            "dockerfile": dockerfile,
            "args": args,
            "bases": bases,
            "module": [cfg.module_path, cfg.fresh_gomod, cfg.modfile],
            "deps": edits.material,
            "outside": {inside: tree_digest(host) for inside, host in outside.items()},
            "go": go_version() if tidies(cfg) else "",
            "go_build_cache": cfg.enable_go_build_cache,
        }
        key = build_key(request.plan_dir, self.id, material)
        job = ImageJob(
            request.plan, self.id, key, build_root(ctx.builds_dir, self.id) / key, what, ctx.log
        )
        provenance = {
            "go": material["go"],
            "tags": tags,
            "replace": list(edits.edits),
            "go_proxy": args["GO_PROXY"],
            "base_images": bases,
        }
        cache_tag = image_tag(f"go-build-cache-{request.plan}", "latest")

        async def stage(context: Path) -> Recipe:
            _stage_sources(context, request.plan_dir, outside, edits)
            src = context / PLAN_DIR / cfg.path
            await prepare_module(src, cfg, list(edits.edits), ctx, what)
            if cfg.proxy_mode == "local":
                await local_proxy(src, context / PROXY_DIR, host_go_env(), ctx, what)
            (context / "Dockerfile").write_text(dockerfile)
            cached_base = cfg.enable_go_build_cache and await image_exists(cache_tag)
            base = cache_tag if cached_base else cfg.build_base_image
            if cached_base:
                ctx.log(f"building on the Go build cache image {cache_tag}")

            async def after(built: Built, tag: str) -> dict[str, Any]:
                modules = (await read_file(tag, DEP_LIST)).splitlines()
                more: dict[str, Any] = {"modules": [m for m in modules if m.strip()]}
                if cfg.enable_go_build_cache:
                    more["go_build_cache"] = cache_tag
                    if not cached_base:
                        await _keep_build_cache(built, cache_tag, ctx)
                return more

            return Recipe({**args, "BUILD_BASE_IMAGE": base}, provenance=provenance, after=after)

        return image_artifact(self.id, key, await cached_or_built(job, stage))


async def _keep_build_cache(built: Built, cache_tag: str, ctx: BuildContext) -> None:
    """Tag the builder stage's last image as the plan's Go build cache."""
    stage_image = builder_stage_image(built.lines)
    if not stage_image:
        ctx.log("warning: the builder stage's image was not found; no Go build cache kept")
        return
    await client.docker("tag", stage_image, cache_tag, error=BuildError)
    ctx.log(f"Go build cache kept as {cache_tag}")
