"""Builder ``exec:python``: run a Python plan's entry file with the host's interpreter.

The walking skeleton's builder: no virtual environment yet, the plan imports the
Choreograph SDK installed beside this host. Per-group dependency sets (one venv per
resolved set) extend this builder later; the artifact shape stays the same.
"""

from __future__ import annotations

import sys
from pathlib import Path

from choreograph.builders.base import BuildContext
from choreograph.builders.cache import build_key
from choreograph.errors import BuildError
from choreograph.plan.spec import Artifact, BuildRequest

DEFAULT_ENTRY = "main.py"


class ExecPythonBuilder:
    id = "exec:python"

    def problems(self) -> list[str]:
        return []

    async def build(self, request: BuildRequest, ctx: BuildContext) -> Artifact:
        entry = str(request.config.get("entry", DEFAULT_ENTRY))
        entry_path = Path(request.plan_dir) / entry
        if not entry_path.is_file():
            raise BuildError(
                f"plan {request.plan!r}: entry file {entry_path} does not exist "
                f'(set [builders."exec:python"] entry = "…" in the manifest)'
            )
        if request.dependencies:
            names = ", ".join(d.module for d in request.dependencies)
            raise BuildError(
                f"plan {request.plan!r}, groups {', '.join(request.groups)}: per-group "
                f"dependencies ({names}) are not supported by exec:python yet"
            )
        key = build_key(request.plan_dir, self.id, {"entry": entry, "python": sys.version})
        return Artifact(
            builder=self.id,
            build_id=key,
            argv=(sys.executable, str(entry_path)),
            cwd=str(request.plan_dir),
            provenance={"python": sys.version.split()[0], "executable": sys.executable},
            launcher="python-fork",
        )
