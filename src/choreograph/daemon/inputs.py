"""A task's folder, ``<home>/daemon/tasks/<id>/``, and how its uploaded inputs become run
specs: the same resolution ``choreo run`` does, on the uploaded plan folder
(``inputs/plan``), composition (``inputs/composition/<name>``) and local dependency
trees (``inputs/deps/<n>``, named in ``inputs/deps.json`` by the path the composition
writes). A dependency path that was not uploaded is refused: a client names no file of
the daemon's host.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from choreograph import workspace
from choreograph.availability import check_config_keys
from choreograph.daemon.schemas import TaskRequest
from choreograph.errors import InputError
from choreograph.plan import load_composition, load_manifest, resolve_composition, resolve_single
from choreograph.plan.spec import RunSpec
from choreograph.services import mocks


@dataclass(frozen=True)
class TaskFolder:
    root: Path

    @property
    def inputs(self) -> Path:
        return self.root / "inputs"

    @property
    def plan_dir(self) -> Path:
        return self.inputs / "plan"

    @property
    def events(self) -> Path:
        return self.root / "events.jsonl"

    @property
    def outputs(self) -> Path:
        return self.root / "outputs.tgz"

    def composition_file(self) -> Path | None:
        folder = self.inputs / "composition"
        found = sorted(folder.iterdir()) if folder.is_dir() else []
        return found[0] if found else None

    def deps(self) -> dict[str, Path]:
        """Dependency path as the composition writes it → its uploaded tree."""
        index = self.inputs / "deps.json"
        names: list[str] = json.loads(index.read_text()) if index.is_file() else []
        return {name: self.inputs / "deps" / str(n) for n, name in enumerate(names)}


def plan_name(plan_dir: Path) -> str:
    return load_manifest(plan_dir / workspace.MANIFEST).name


def resolve(folder: TaskFolder, request: TaskRequest) -> list[RunSpec]:
    """The run specs of a task, checked as ``choreo run`` checks them; PlanError or
    InputError for what the client should fix."""
    manifest_file = folder.plan_dir / workspace.MANIFEST
    manifest = load_manifest(manifest_file)
    composition_file = folder.composition_file()
    if composition_file is None:
        spec = resolve_single(
            manifest,
            folder.plan_dir,
            case=request.case,
            instances=request.instances,
            test_params=request.test_params,
            builder=request.builder,
            runner=request.runner,
            manifest_file=str(manifest_file),
        )
        if request.use_build:
            groups = tuple(dataclasses.replace(g, artifact=request.use_build) for g in spec.groups)
            spec = dataclasses.replace(spec, groups=groups)
        specs = [spec]
    else:
        composition = load_composition(composition_file)
        specs = resolve_composition(
            composition,
            manifest,
            folder.plan_dir,
            test_params=request.test_params,
            builder=request.builder,
            runner=request.runner,
        )
        specs = [_uploaded_deps(spec, composition_file, folder.deps()) for spec in specs]
    modes = mocks.parse_mode_flags(request.service_modes)
    return [check_config_keys(mocks.with_modes(spec, modes)) for spec in specs]


def _uploaded_deps(spec: RunSpec, composition_file: Path, trees: dict[str, Path]) -> RunSpec:
    """``spec`` with each local dependency pointing at its uploaded tree. Resolution made
    each path absolute against the composition's folder; the uploaded names are matched
    the same way."""
    base = composition_file.parent
    by_path = {
        str((base / Path(name).expanduser()).resolve()): tree for name, tree in trees.items()
    }
    groups = []
    for group in spec.groups:
        deps = []
        for dep in group.dependencies:
            if dep.path:
                if dep.path not in by_path:
                    raise InputError(
                        f"group {group.id}: dependency {dep.module} names a local tree "
                        f"({dep.path}) that was not uploaded with the task"
                    )
                dep = dataclasses.replace(dep, path=str(by_path[dep.path]))
            deps.append(dep)
        groups.append(dataclasses.replace(group, dependencies=tuple(deps)))
    return dataclasses.replace(spec, groups=tuple(groups))
