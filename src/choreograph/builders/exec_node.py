"""Builder ``exec:node``: install a Node plan's dependencies once per content, run
``node <main>`` per instance.

``npm ci`` when the plan has a lockfile (exact, reproducible), ``npm install`` otherwise.
The build key covers the plan's sources (lockfile included) and the Node version, so an
unchanged plan reuses its ``node_modules``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from functools import cache
from pathlib import Path

from choreograph.builders.base import BuildContext
from choreograph.builders.cache import build_key
from choreograph.builders.staging import SOURCE_DIR, staged_build
from choreograph.builders.tool import run_tool
from choreograph.errors import BuildError
from choreograph.plan.spec import Artifact, BuildRequest


@cache
def node_version() -> str:
    node = shutil.which("node")
    if node is None:
        return ""
    return subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()


def _main_file(plan_dir: Path, config: dict[str, object], what: str) -> str:
    if "entry" in config:
        return str(config["entry"])
    package = plan_dir / "package.json"
    try:
        data = json.loads(package.read_text())
    except FileNotFoundError:
        raise BuildError(f"{what}: exec:node needs a package.json in {plan_dir}") from None
    except ValueError as exc:
        raise BuildError(f"{what}: {package} is not valid JSON: {exc}") from None
    return str(data.get("main") or "index.js")


class ExecNodeBuilder:
    id = "exec:node"
    config_keys = ("entry",)

    def problems(self) -> list[str]:
        missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
        return [f"{tool} is not installed (not on PATH)" for tool in missing]

    async def build(self, request: BuildRequest, ctx: BuildContext) -> Artifact:
        what = f"plan {request.plan!r} (groups {', '.join(request.groups)})"
        if request.dependencies:
            raise BuildError(f"{what}: per-group dependencies are not supported by exec:node yet")
        main = _main_file(request.plan_dir, request.config, what)
        key = build_key(request.plan_dir, self.id, {"node": node_version(), "main": main})
        has_lock = (request.plan_dir / "package-lock.json").is_file()

        async def install(src: Path) -> None:
            command = ["npm", "ci"] if has_lock else ["npm", "install"]
            ctx.log(f"{' '.join(command)} for plan {request.plan}")
            await run_tool([*command, "--no-audit", "--no-fund"], src, ctx.log, what)

        folder, cached = await staged_build(ctx.builds_dir, self.id, key, request.plan_dir, install)
        entry = folder / SOURCE_DIR / main
        if not entry.is_file():
            raise BuildError(f"{what}: the plan's main file {main!r} does not exist")
        return Artifact(
            builder=self.id,
            build_id=key,
            argv=("node", str(entry)),
            cwd="",
            from_cache=cached,
            provenance={"node": node_version(), "lockfile": has_lock},
        )
