"""A composition file: which groups run a test case, how each is built, with which params.

The schema is Testground's (``pkg/api/composition.go``), including ``[[runs]]``: each run
picks groups by id (``[[runs.groups]] id``, or ``group_id`` to reuse one group's build
under another name) and may override their instances and params. Without ``[[runs]]``
there is one run, ``default``, of every group.

Instance counts are settled here, when the file is read, so a wrong count is reported
against its line: ``percentage`` becomes ``round(percentage * total_instances)`` (halves
away from zero, as Go's ``math.Round``), and when ``total_instances`` is given the
groups must add up to it. A run's ``total_instances`` is its own, as in Testground;
``[global] total_instances`` applies to the default run.

Every key Testground defines is accepted except ``profiles`` (in ``[global.run]``,
``[groups.run]`` and ``[[runs.groups]]``), which is reported as not supported yet.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, Field, field_validator, model_validator

from choreograph.errors import Issue, PlanError
from choreograph.plan._toml import KeyPath, TomlModel, describe_value, format_field, load_model
from choreograph.plan.params import ParamLayer
from choreograph.plan.path_names import path_name_validator
from choreograph.plan.service import Service

_PROFILES = frozenset({"profiles"})

GroupId = Annotated[str, Field(min_length=1), AfterValidator(path_name_validator("group id"))]
"""A group id names the group's folder in the run folder (``<run>/<group>/<index>/``)."""


class Metadata(TomlModel):
    name: str = ""
    author: str = ""


class GroupInstances(TomlModel):
    """``instances = { count = N }`` or ``{ percentage = 0.25 }`` (a zero counts as unset)."""

    count: int = Field(default=0, ge=0)
    percentage: float = Field(default=0.0, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _one_of(self) -> GroupInstances:
        if (self.count > 0) == (self.percentage > 0):
            found = f"count = {self.count}, percentage = {self.percentage}"
            raise ValueError(
                f"expected either count ≥ 1 or 0 < percentage ≤ 1 (not both), found {found}"
            )
        return self


class Dependency(TomlModel):
    """A dependency override: ``version`` (and ``target``) as Testground, or a local ``path``."""

    module: str = Field(min_length=1)
    version: str = ""
    target: str = ""
    path: str = ""

    @model_validator(mode="after")
    def _pinned(self) -> Dependency:
        if not (self.version or self.path):
            raise ValueError(f"expected version or path for module {self.module!r}, found neither")
        return self


class Build(TomlModel):
    selectors: list[str] = []
    dependencies: list[Dependency] = []


class RunParams(TomlModel):
    """``[global.run]`` / ``[groups.run]``: an artifact to reuse and test params."""

    UNSUPPORTED = _PROFILES
    artifact: str = ""
    test_params: dict[str, Any] = {}


class Resources(TomlModel):
    """Per-instance requests, strings as Testground's (``memory = "512Mi"``, ``cpu = "2"``)."""

    memory: Any = None
    cpu: Any = None

    @field_validator("memory", "cpu")
    @classmethod
    def _scalar(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, str | int | float):
            raise ValueError(f"expected a string or number, found {describe_value(value)}")
        return value

    def as_strings(self) -> dict[str, str]:
        pairs = (("memory", self.memory), ("cpu", self.cpu))
        return {k: str(v) for k, v in pairs if v is not None and v != ""}


class Group(TomlModel):
    """One ``[[groups]]`` entry."""

    id: GroupId
    builder: str = ""
    build_config: dict[str, Any] = {}
    build: Build = Build()
    resources: Resources = Resources()
    instances: GroupInstances | None = None
    run: RunParams = RunParams()


class RunGroup(TomlModel):
    """One ``[[runs.groups]]`` entry: a group of one run."""

    UNSUPPORTED = _PROFILES
    id: GroupId
    group_id: str = ""
    resources: Resources = Resources()
    instances: GroupInstances | None = None
    test_params: dict[str, Any] = {}


class Run(TomlModel):
    """One ``[[runs]]`` entry."""

    id: str = Field(min_length=1)
    test_params: dict[str, Any] = {}
    total_instances: int = Field(default=0, ge=0)
    groups: list[RunGroup] = Field(min_length=1)


class Global(TomlModel):
    """``[global]``."""

    plan: str = ""
    case: str = Field(min_length=1)
    total_instances: int = Field(default=0, ge=0)
    concurrent_builds: int = Field(default=0, ge=0)
    builder: str = ""
    build_config: dict[str, Any] = {}
    build: Build = Build()
    runner: str = ""
    run_config: dict[str, Any] = {}
    run: RunParams = RunParams()
    disable_metrics: bool = False


@dataclass(frozen=True)
class PlannedGroup:
    """A group of one run with its instance count settled; params not yet resolved."""

    id: str
    group_index: int
    """Index of the ``[[groups]]`` entry it is built from."""
    instances: int
    resources: dict[str, str]
    param_layers: tuple[ParamLayer, ...]
    """Composition params in increasing precedence, for :func:`resolve_params`."""


@dataclass(frozen=True)
class PlannedRun:
    id: str
    path: KeyPath
    """Where the run is defined: ``("runs", k)``, or ``("global",)`` for the default run."""
    groups: tuple[PlannedGroup, ...]


@dataclass(frozen=True)
class _Entry:
    """A group of a run before its count is settled, with where it was written."""

    path: KeyPath
    id: str
    group_index: int
    instances: GroupInstances | None
    resources: Resources
    run_layers: tuple[ParamLayer, ...] = ()


class Composition(TomlModel):
    """A composition file, validated; :meth:`plan_runs` gives its runs with counts settled."""

    metadata: Metadata = Metadata()
    global_: Global = Field(alias="global")
    groups: list[Group] = Field(min_length=1)
    runs: list[Run] = []
    services: list[Service] = []
    """Choreograph's own ``[[services]]`` (see plan/service.py)."""

    def check(self) -> list[Issue]:
        issues = _duplicates(self, ("groups",), [g.id for g in self.groups])
        issues += _duplicates(self, ("services",), [s.name for s in self.services], "name")
        for k, run in enumerate(self.runs):
            issues += _duplicates(self, ("runs", k, "groups"), [g.id for g in run.groups])
        issues += _duplicates(self, ("runs",), [r.id for r in self.runs])
        if not issues:
            try:
                self.plan_runs()
            except PlanError as exc:
                issues = exc.issues
        return issues

    def group_index(self, group_id: str) -> int | None:
        return next((i for i, g in enumerate(self.groups) if g.id == group_id), None)

    def plan_runs(self) -> list[PlannedRun]:
        """One entry per ``[[runs]]`` (or the default run), every count checked."""
        issues: list[Issue] = []
        if self.runs:
            runs = [self._plan_run(k, issues) for k in range(len(self.runs))]
        else:
            entries = [
                _Entry(("groups", i), g.id, i, g.instances, g.resources)
                for i, g in enumerate(self.groups)
            ]
            runs = [
                self._settle("default", ("global",), self.global_.total_instances, entries, issues)
            ]
        if issues:
            raise PlanError(issues)
        return runs

    def _plan_run(self, k: int, issues: list[Issue]) -> PlannedRun:
        run, entries, known_before = self.runs[k], [], len(issues)
        run_layer = self._layer(("runs", k, "test_params"), run.test_params)
        for j, rg in enumerate(run.groups):
            path: KeyPath = ("runs", k, "groups", j)
            i = self.group_index(rg.group_id or rg.id)
            if i is None:
                known = ", ".join(g.id for g in self.groups)
                found = rg.group_id or rg.id
                problem = f"expected the id of a [[groups]] entry ({known}), found {found!r}"
                issues.append(self.issue((*path, "group_id" if rg.group_id else "id"), problem))
                continue
            group = self.groups[i]
            resources = {
                **group.resources.model_dump(exclude_none=True),
                **rg.resources.model_dump(exclude_none=True),
            }
            layers = (run_layer, self._layer((*path, "test_params"), rg.test_params))
            instances = rg.instances or group.instances
            entries.append(_Entry(path, rg.id, i, instances, Resources(**resources), layers))
        complete = len(issues) == known_before  # the sum means nothing with a group missing
        return self._settle(run.id, ("runs", k), run.total_instances, entries, issues, complete)

    def _settle(
        self,
        run_id: str,
        where: KeyPath,
        total: int,
        entries: list[_Entry],
        issues: list[Issue],
        complete: bool = True,
    ) -> PlannedRun:
        planned = []
        for e in entries:
            count = self._count(e, total, where, issues)
            if count is not None:
                group = self.groups[e.group_index]
                layers = (
                    self._layer(("global", "run", "test_params"), self.global_.run.test_params),
                    self._layer(
                        ("groups", e.group_index, "run", "test_params"), group.run.test_params
                    ),
                    *e.run_layers,
                )
                planned.append(
                    PlannedGroup(e.id, e.group_index, count, e.resources.as_strings(), layers)
                )
        summed = sum(g.instances for g in planned)
        if total and complete and len(planned) == len(entries) and summed != total:
            counts = ", ".join(f"{g.id} = {g.instances}" for g in planned)
            problem = (
                f"the groups add up to {summed} instances ({counts}), "
                f"but total_instances is {total}"
            )
            issues.append(self.issue((*where, "total_instances"), problem))
        return PlannedRun(run_id, where, tuple(planned))

    def _count(self, e: _Entry, total: int, where: KeyPath, issues: list[Issue]) -> int | None:
        if e.instances is None:
            problem = (
                f"expected instances = {{ count = N }} for group {e.id!r} here or in [[groups]]"
            )
            issues.append(self.issue(e.path, problem))
            return None
        if not e.instances.percentage:
            return e.instances.count
        pct = e.instances.percentage
        if not total:
            table = "[global]" if where == ("global",) else "its [[runs]] entry"
            problem = f"percentage = {pct} needs total_instances in {table}, found none"
            issues.append(self.issue((*e.path, "instances"), problem))
            return None
        count = math.floor(pct * total + 0.5)
        if count == 0:
            problem = f"percentage = {pct} of {total} instances rounds to 0 for group {e.id!r}"
            issues.append(self.issue((*e.path, "instances"), problem))
            return None
        return count

    def _layer(self, path: KeyPath, values: dict[str, Any]) -> ParamLayer:
        lines = {key: self.line(*path, key) for key in values}
        return ParamLayer(self.source, format_field(path), values, lines, passthrough=True)


def _duplicates(comp: Composition, path: KeyPath, ids: list[str], key: str = "id") -> list[Issue]:
    issues, seen = [], set()
    for index, ident in enumerate(ids):
        if ident in seen:
            issues.append(
                comp.issue((*path, index, key), f"expected unique {key}s, found {ident!r} again")
            )
        seen.add(ident)
    return issues


def load_composition(path: Path) -> Composition:
    """Read and validate ``path``; a :class:`PlanError` lists every problem with its line."""
    return load_model(path, Composition)
