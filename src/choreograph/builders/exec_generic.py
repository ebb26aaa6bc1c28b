"""Builder ``exec:generic``: any language. The manifest names the commands:

    [builders."exec:generic"]
    build = ["make", "plan"]        # optional, run once per build in the staged sources
    run = ["./plan", "--flag"]      # how to start one instance
    sync_alias = "testground-sync-service:5050"   # optional: the SDK dials this address

``sync_alias`` is for SDKs that ignore ``SYNC_SERVICE_HOST``/``PORT`` (Testground's Rust
SDK); the runner makes that name and port reach the run's sync service.

Both are argument lists (never shell strings, so no quoting surprises). A relative
program path in ``run`` is resolved inside the build folder.
"""

from __future__ import annotations

from pathlib import Path

from choreograph.builders.base import BuildContext
from choreograph.builders.cache import build_key
from choreograph.builders.staging import SOURCE_DIR, staged_build
from choreograph.builders.tool import run_tool
from choreograph.errors import BuildError
from choreograph.plan.spec import Artifact, BuildRequest


def _argv(config: dict[str, object], name: str, what: str, required: bool) -> list[str]:
    value = config.get(name)
    if value is None and not required:
        return []
    if not isinstance(value, list) or not value or not all(isinstance(part, str) for part in value):
        raise BuildError(
            f'{what}: [builders."exec:generic"] {name} must be a non-empty list of strings '
            f'(an argument list such as ["./run.sh", "--fast"]), found {value!r}'
        )
    return list(value)


class ExecGenericBuilder:
    id = "exec:generic"
    config_keys = ("build", "run", "sync_alias")

    def problems(self) -> list[str]:
        return []

    async def build(self, request: BuildRequest, ctx: BuildContext) -> Artifact:
        what = f"plan {request.plan!r} (groups {', '.join(request.groups)})"
        if request.dependencies:
            raise BuildError(f"{what}: exec:generic does not apply per-group dependencies")
        build = _argv(request.config, "build", what, required=False)
        run = _argv(request.config, "run", what, required=True)
        key = build_key(
            request.plan_dir, self.id, {"build": build, "run": run, "selectors": request.selectors}
        )

        async def steps(src: Path) -> None:
            if build:
                ctx.log(f"{' '.join(build)} for plan {request.plan}")
                await run_tool(build, src, ctx.log, what)

        folder, cached = await staged_build(ctx.builds_dir, self.id, key, request.plan_dir, steps)
        src = folder / SOURCE_DIR
        program = run[0]
        if "/" in program and not Path(program).is_absolute():
            program = str((src / program).resolve())
        alias = request.config.get("sync_alias", "")
        if not isinstance(alias, str):
            raise BuildError(
                f'{what}: [builders."exec:generic"] sync_alias must be "HOST:PORT", found {alias!r}'
            )
        return Artifact(
            builder=self.id,
            build_id=key,
            argv=(program, *run[1:]),
            cwd=str(src),
            from_cache=cached,
            provenance={"build": build, "run": run},
            sync_alias=alias,
        )
