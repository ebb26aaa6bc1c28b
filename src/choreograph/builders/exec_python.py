"""Builder ``exec:python``: a Python plan's sources plus the environment it runs in.

- A plan that declares dependencies (``requirements.txt``, even an empty one, or
  ``[project] dependencies`` in ``pyproject.toml``), or whose group overrides some, gets
  a virtual environment of its own, one per distinct dependency set
  (:mod:`choreograph.builders.venv`), with the host's SDK linked in.
- A plan that declares nothing runs on the host's interpreter (the fast path: no
  environment to make, and the runner's fork server is already warm). It can import
  whatever the host has; declare dependencies to be isolated from them.

Either way the sources are copied into a content-addressed build folder (key: sources,
entry, Python version, environment key), so a build is immutable, a prebuilt artifact
can be named by its id later, and an unchanged plan reuses everything.

Build config (``[builders."exec:python"]``): ``entry`` (default ``main.py``),
``installer`` (``auto``, ``uv`` or ``pip``).
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from typing import Any

from choreograph import __version__
from choreograph.builders.base import BuildContext
from choreograph.builders.cache import build_key
from choreograph.builders.installer import pick_installer
from choreograph.builders.requirements import dependency_set
from choreograph.builders.staging import SOURCE_DIR, staged_build
from choreograph.builders.venv import Environment, ensure_environment, sdk_package, sdk_pins
from choreograph.errors import BuildError
from choreograph.plan.spec import Artifact, BuildRequest

DEFAULT_ENTRY = "main.py"


class ExecPythonBuilder:
    id = "exec:python"
    config_keys = ("entry", "installer")

    def problems(self) -> list[str]:
        return []

    async def build(self, request: BuildRequest, ctx: BuildContext) -> Artifact:
        what = f"plan {request.plan!r}, groups {', '.join(request.groups)}"
        entry = str(request.config.get("entry", DEFAULT_ENTRY))
        if not (request.plan_dir / entry).is_file():
            raise BuildError(
                f"{what}: entry file {request.plan_dir / entry} does not exist "
                f'(set [builders."exec:python"] entry = "…" in the manifest)'
            )
        deps = dependency_set(request.plan_dir, request.dependencies, what)
        env: Environment | None = None
        if deps.isolated:
            installer = pick_installer(str(request.config.get("installer", "auto")), what)
            env = await ensure_environment(ctx.builds_dir, deps, installer, ctx.log, what)
        key = build_key(
            request.plan_dir,
            self.id,
            {"entry": entry, "python": sys.version, "env": env.key if env else "host"},
        )
        folder, cached = await staged_build(
            ctx.builds_dir, self.id, key, request.plan_dir, _no_steps
        )
        provenance: dict[str, Any] = {
            "python": platform.python_version(),
            "requirements": deps.lines(),
            "declared_in": deps.declared_in,
            "sdk": {"choreograph": __version__, "source": str(sdk_package()), "pins": sdk_pins()},
        }
        if env is None:
            python, extra_env = sys.executable, {}
            provenance.update(environment="host", executable=sys.executable)
        else:
            python = str(env.python)
            extra_env = {
                "VIRTUAL_ENV": str(env.path),
                "PATH": f"{env.path / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
                "PYTHONPATH": "",  # the host's PYTHONPATH would leak host packages in
            }
            provenance.update(
                environment="venv",
                env=env.key,
                installer=env.installer,
                freeze=list(env.freeze),
                versions=env.versions,
                local=env.local,
            )
        return Artifact(
            builder=self.id,
            build_id=key,
            argv=(python, str(folder / SOURCE_DIR / entry)),
            cwd=str(folder / SOURCE_DIR),
            env=extra_env,
            from_cache=cached and (env is None or env.from_cache),
            provenance=provenance,
            launcher="python-fork",
        )


async def _no_steps(_: Path) -> None:
    """The environment is built beside the sources; the copy needs no steps."""
