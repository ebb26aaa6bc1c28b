"""Builder ``exec:go``: Testground's Go plans (``github.com/testground/sdk-go``), built
as they are, one binary per distinct build key.

Configuration keys are Testground's, read from the merged build config (manifest
``[builders."exec:go"]`` < ``[global.build_config]`` < ``[groups.build_config]``):

- ``module_path``: the plan's module path (needed with ``fresh_gomod``);
- ``exec_pkg``: the package to build, relative to the plan (default ``"."``);
- ``fresh_gomod``: start from a new ``go.mod`` (``go mod init module_path``);
- ``path``: the folder of the Go module inside the plan (default: the plan's own);
- ``modfile``: build with this file (in ``path``) as ``go.mod``, and ``<name>.sum`` beside
  it as ``go.sum`` when there is one (one plan, several dependency sets);
- ``enable_cgo``: build with ``CGO_ENABLED=1`` (default: ``$CGO_ENABLED``, else 0).

``path``, ``modfile`` and ``enable_cgo`` are Testground's ``docker:go`` settings, honoured
here because plans written for ``docker:go`` run on ``exec:go`` (see availability.py);
as there, neither ``path`` nor ``modfile`` goes with ``fresh_gomod``.

Per-group ``dependencies = [{module, version, target}]`` become module replacements
(``module => target@version``; ``target`` defaults to ``module``; our ``path`` extension
replaces with a local folder), ``selectors`` become build tags. The Go build and module
caches live under the build cache (``<builds>/go/``) so they are reused across builds and
removable with it; ``GOTOOLCHAIN=local`` keeps Go from fetching other toolchains.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from functools import cache
from pathlib import Path

from choreograph.builders.base import BuildContext
from choreograph.builders.cache import build_key
from choreograph.builders.staging import build_root, staged_build
from choreograph.builders.tool import run_tool
from choreograph.errors import BuildError
from choreograph.plan.spec import Artifact, BuildRequest, Dependency

BINARY = "plan.bin"
MODULES = "modules.txt"


@cache
def go_version() -> str:
    go = shutil.which("go")
    if go is None:
        return ""
    done = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True)
    return done.stdout.strip()


def without_module_index(environ: Mapping[str, str]) -> str:
    """``GODEBUG`` with ``goindex=0``. Go (1.19 and later) reads a package folder through
    its module index once every file in it is a few seconds old, and that index reports a
    syntax error in a file the build constraints exclude (Testground's ``placebo`` has a
    deliberately broken ``selector.go`` behind tags), which the direct read never parses.
    So the same plan built or failed depending on its files' modification times; without
    the index, a plan builds as ``go build`` builds a freshly written folder, always."""
    current = environ.get("GODEBUG", "")
    return f"{current},goindex=0" if current else "goindex=0"


def go_env(builds_dir: Path, cgo: bool = False) -> dict[str, str]:
    caches = build_root(builds_dir, "exec:go") / "_go"
    return {
        **os.environ,
        "GODEBUG": without_module_index(os.environ),
        "GOMODCACHE": str(caches / "mod"),
        "GOCACHE": str(caches / "cache"),
        "GOFLAGS": "-modcacherw",
        "GOTOOLCHAIN": "local",
        "CGO_ENABLED": "1" if cgo else os.environ.get("CGO_ENABLED", "0"),
    }


def _replacement(dep: Dependency, base: Path) -> str:
    if dep.path:
        local = Path(dep.path)
        return f"{dep.module}={(local if local.is_absolute() else base / local).resolve()}"
    target = dep.target or dep.module
    return f"{dep.module}={target}@{dep.version}" if dep.version else f"{dep.module}={target}"


def _module_dir(path: str, what: str) -> Path:
    """``path`` as a folder inside the plan (relative, no ``..``)."""
    folder = Path(path or ".")
    if folder.is_absolute() or ".." in folder.parts:
        raise BuildError(f"{what}: path = {path!r} must be a folder inside the plan")
    return folder


def _use_modfile(work: Path, modfile: str, what: str) -> None:
    """Testground's ``modfile``: copy it (and its ``.sum``) over ``go.mod``/``go.sum``."""
    source = work / modfile
    if not source.is_file():
        raise BuildError(f"{what}: modfile {modfile!r} does not exist in {work}")
    (work / "go.mod").write_bytes(source.read_bytes())
    go_sum = source.with_suffix(".sum")
    if go_sum.is_file():
        (work / "go.sum").write_bytes(go_sum.read_bytes())


class ExecGoBuilder:
    id = "exec:go"
    config_keys = ("module_path", "exec_pkg", "fresh_gomod", "path", "modfile", "enable_cgo")

    def problems(self) -> list[str]:
        return [] if shutil.which("go") else ["go is not installed (not on PATH)"]

    async def build(self, request: BuildRequest, ctx: BuildContext) -> Artifact:
        config = request.config
        exec_pkg = str(config.get("exec_pkg", ".") or ".")
        module_path = str(config.get("module_path", "") or "")
        fresh = bool(config.get("fresh_gomod", False))
        path = str(config.get("path", "") or "")
        modfile = str(config.get("modfile", "") or "")
        cgo = bool(config.get("enable_cgo", False))
        deps = sorted(request.dependencies, key=lambda d: d.module)
        for dep in deps:
            if not dep.version and not dep.path:
                raise BuildError(
                    f"plan {request.plan!r}, groups {', '.join(request.groups)}: "
                    f"dependency {dep.module!r} needs a version or a path"
                )
        tags = sorted(request.selectors)
        key = build_key(
            request.plan_dir,
            self.id,
            {
                "go": go_version(),
                "exec_pkg": exec_pkg,
                "module_path": module_path,
                "fresh_gomod": fresh,
                "deps": [_replacement(d, request.plan_dir) for d in deps],
                "tags": tags,
                **({"path": path} if path else {}),
                **({"modfile": modfile} if modfile else {}),
                **({"cgo": True} if cgo else {}),
            },
        )
        env = go_env(ctx.builds_dir, cgo)
        groups = ", ".join(request.groups)

        def what(dep: Dependency | None = None) -> str:
            about = f", dependency {dep.module}@{dep.version or dep.path}" if dep else ""
            return f"plan {request.plan!r} (groups {groups}{about})"

        module_dir = _module_dir(path, what())
        if fresh and (path or modfile):
            raise BuildError(f"{what()}: fresh_gomod cannot be combined with path or modfile")

        async def steps(plan_src: Path) -> None:
            src = plan_src / module_dir
            if modfile:
                _use_modfile(src, modfile, what())
            if fresh:
                if not module_path:
                    raise BuildError(f"{what()}: fresh_gomod needs module_path in the build config")
                for name in ("go.mod", "go.sum"):
                    (src / name).unlink(missing_ok=True)
                await run_tool(["go", "mod", "init", module_path], src, ctx.log, what(), env)
            elif not (src / "go.mod").is_file():
                raise BuildError(
                    f"{what()}: no go.mod in {request.plan_dir / module_dir} "
                    "(or set fresh_gomod = true and module_path)"
                )
            for dep in deps:
                replacement = _replacement(dep, request.plan_dir)
                await run_tool(
                    ["go", "mod", "edit", f"-replace={replacement}"], src, ctx.log, what(dep), env
                )
            try:
                ctx.log(f"go mod tidy for plan {request.plan}")
                await run_tool(["go", "mod", "tidy"], src, ctx.log, what(), env)
            except BuildError as exc:
                culprit = next((d for d in deps if d.module in str(exc)), None)
                raise BuildError(str(exc).replace(what(), what(culprit), 1)) from None
            build = ["go", "build", "-o", str(plan_src.parent / BINARY)]
            if tags:
                build.append(f"-tags={','.join(tags)}")
            ctx.log(f"{' '.join(build)} {exec_pkg}")
            await run_tool([*build, exec_pkg], src, ctx.log, what(), env)
            modules = await run_tool(["go", "list", "-m", "all"], src, lambda _: None, what(), env)
            (plan_src.parent / MODULES).write_text(modules + "\n")

        folder, cached = await staged_build(ctx.builds_dir, self.id, key, request.plan_dir, steps)
        modules = (folder / MODULES).read_text().split("\n")
        return Artifact(
            builder=self.id,
            build_id=key,
            argv=(str(folder / BINARY),),
            cwd="",
            from_cache=cached,
            provenance={
                "go": go_version(),
                "tags": tags,
                "replace": [_replacement(d, request.plan_dir) for d in deps],
                "modules": [m for m in modules if m],
            },
        )
