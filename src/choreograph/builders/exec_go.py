"""Builder ``exec:go``: Testground's Go plans (``github.com/testground/sdk-go``), built
as they are, one binary per distinct build key.

Configuration keys are Testground's, read from the merged build config (manifest
``[builders."exec:go"]`` < ``[global.build_config]`` < ``[groups.build_config]``):

- ``module_path``: the plan's module path (needed with ``fresh_gomod``);
- ``exec_pkg``: the package to build, relative to the plan (default ``"."``);
- ``fresh_gomod``: start from a new ``go.mod`` (``go mod init module_path``).

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


def go_env(builds_dir: Path) -> dict[str, str]:
    caches = build_root(builds_dir, "exec:go") / "_go"
    return {
        **os.environ,
        "GOMODCACHE": str(caches / "mod"),
        "GOCACHE": str(caches / "cache"),
        "GOFLAGS": "-modcacherw",
        "GOTOOLCHAIN": "local",
        "CGO_ENABLED": os.environ.get("CGO_ENABLED", "0"),
    }


def _replacement(dep: Dependency, base: Path) -> str:
    if dep.path:
        local = Path(dep.path)
        return f"{dep.module}={(local if local.is_absolute() else base / local).resolve()}"
    target = dep.target or dep.module
    return f"{dep.module}={target}@{dep.version}" if dep.version else f"{dep.module}={target}"


class ExecGoBuilder:
    id = "exec:go"

    def problems(self) -> list[str]:
        return [] if shutil.which("go") else ["go is not installed (not on PATH)"]

    async def build(self, request: BuildRequest, ctx: BuildContext) -> Artifact:
        config = request.config
        exec_pkg = str(config.get("exec_pkg", ".") or ".")
        module_path = str(config.get("module_path", "") or "")
        fresh = bool(config.get("fresh_gomod", False))
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
            },
        )
        env = go_env(ctx.builds_dir)
        groups = ", ".join(request.groups)

        def what(dep: Dependency | None = None) -> str:
            about = f", dependency {dep.module}@{dep.version or dep.path}" if dep else ""
            return f"plan {request.plan!r} (groups {groups}{about})"

        async def steps(src: Path) -> None:
            if fresh:
                if not module_path:
                    raise BuildError(f"{what()}: fresh_gomod needs module_path in the build config")
                for name in ("go.mod", "go.sum"):
                    (src / name).unlink(missing_ok=True)
                await run_tool(["go", "mod", "init", module_path], src, ctx.log, what(), env)
            elif not (src / "go.mod").is_file():
                raise BuildError(
                    f"{what()}: no go.mod in {request.plan_dir} "
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
            build = ["go", "build", "-o", str(src.parent / BINARY)]
            if tags:
                build.append(f"-tags={','.join(tags)}")
            ctx.log(f"{' '.join(build)} {exec_pkg}")
            await run_tool([*build, exec_pkg], src, ctx.log, what(), env)
            modules = await run_tool(["go", "list", "-m", "all"], src, lambda _: None, what(), env)
            (src.parent / MODULES).write_text(modules + "\n")

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
