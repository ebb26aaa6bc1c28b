"""A plan's ``manifest.toml``: its name, builders, runners, test cases and their params.

The schema is Testground's (``pkg/api/manifest.go``) so its plans load unmodified, with
two additions Testground lacks: unknown keys are errors (a typo must not pass silently),
and instance bounds and param defaults are checked when the manifest is read.

Two keys found in published Testground plans are accepted though Testground itself
ignores them: ``roles`` on a test case (kept, libp2p's dht) and a top-level ``[global]``
table (libp2p's ping); :meth:`Manifest.ignored_keys` lists the latter so callers can
warn. A test case without ``instances`` may run with any count from 1.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, ConfigDict, Field, model_validator

from choreograph.errors import Issue, PlanError
from choreograph.plan._toml import TomlModel, describe_value, load_model
from choreograph.plan.params import Param
from choreograph.plan.path_names import path_name_validator

# A plan's name is its folder in the store (``plans/<name>/``), and plan and case names go
# into the names the host builds from them (build records, run-event topics): both are
# held to the folder-name whitelist of plan/path_names.py.
PlanName = Annotated[str, Field(min_length=1), AfterValidator(path_name_validator("plan name"))]
CaseName = Annotated[
    str, Field(min_length=1), AfterValidator(path_name_validator("test case name"))
]


class Defaults(TomlModel):
    """``[defaults]``: the builder and runner used when nothing else names one."""

    builder: str | None = None
    runner: str | None = None


class InstanceBounds(TomlModel):
    """``instances = { min, max, default }`` of a test case."""

    min: int = Field(default=1, ge=1)
    max: int | None = Field(default=None, ge=1)
    default: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> InstanceBounds:
        top = self.max if self.max is not None else float("inf")
        default = self.default if self.default is not None else self.min
        if not self.min <= default <= top:
            raise ValueError(
                f"expected min ≤ default ≤ max, found min = {self.min}, "
                f"default = {self.default}, max = {self.max}"
            )
        return self

    @property
    def default_count(self) -> int:
        return self.default if self.default is not None else self.min

    def allows(self, count: int) -> bool:
        return self.min <= count and (self.max is None or count <= self.max)

    def describe(self) -> str:
        return f"{self.min} to {self.max}" if self.max is not None else f"at least {self.min}"


class TestCase(TomlModel):
    """One ``[[testcases]]`` entry."""

    __test__: ClassVar[bool] = False  # not a pytest class, despite the name

    name: CaseName
    instances: InstanceBounds = InstanceBounds()
    params: dict[str, Param] = {}
    roles: list[str] = []


class BackendSettings(TomlModel):
    """``[builders."<id>"]`` or ``[runners."<id>"]``: free-form settings plus ``enabled``."""

    model_config = ConfigDict(extra="allow")
    enabled: bool = True

    def settings(self) -> dict[str, Any]:
        """The settings handed to the builder or runner (a copy, without ``enabled``)."""
        return copy.deepcopy(dict(self.model_extra or {}))


class Manifest(TomlModel):
    """A plan's ``manifest.toml``, validated."""

    name: PlanName
    defaults: Defaults = Defaults()
    builders: dict[str, BackendSettings] = {}
    runners: dict[str, BackendSettings] = {}
    extra_sources: dict[str, list[str]] = {}
    testcases: list[TestCase] = Field(min_length=1)
    global_: dict[str, Any] | None = Field(default=None, alias="global")

    def check(self) -> list[Issue]:
        issues, seen = [], set()
        for index, case in enumerate(self.testcases):
            if case.name in seen:
                problem = f"expected unique test case names, found {case.name!r} again"
                issues.append(self.issue(("testcases", index, "name"), problem))
            seen.add(case.name)
            for name in case.params:
                if not name or "=" in name or "|" in name:
                    problem = (
                        "expected a param name without '=' or '|' (TEST_INSTANCE_PARAMS "
                        f"uses them as separators), found {describe_value(name)}"
                    )
                    issues.append(self.issue(("testcases", index, "params", name), problem))
        return issues

    def find_case(self, name: str) -> tuple[int, TestCase] | None:
        """Index and test case called ``name``, if the plan has one."""
        for index, case in enumerate(self.testcases):
            if case.name == name:
                return index, case
        return None

    def case(self, name: str) -> TestCase:
        """The test case called ``name``; PlanError listing the available ones otherwise."""
        found = self.find_case(name)
        if found is None:
            raise PlanError(Issue(self.source, "testcases", self.no_case_problem(name)))
        return found[1]

    def no_case_problem(self, name: str) -> str:
        available = ", ".join(c.name for c in self.testcases)
        return f"plan {self.name!r} has no test case {name!r}; available: {available}"

    def enabled_builders(self) -> list[str]:
        """Builder ids whose section exists and does not say ``enabled = false``."""
        return [b for b, table in self.builders.items() if table.enabled]

    def enabled_runners(self) -> list[str]:
        return [r for r, table in self.runners.items() if table.enabled]

    def builder_config(self, builder: str) -> dict[str, Any]:
        """The manifest's settings for ``builder`` (a copy, without ``enabled``)."""
        table = self.builders.get(builder)
        return table.settings() if table else {}

    def runner_config(self, runner: str) -> dict[str, Any]:
        table = self.runners.get(runner)
        return table.settings() if table else {}

    def ignored_keys(self) -> list[str]:
        """Tables present in the file that Testground ignores and so does Choreograph."""
        return ["global"] if self.global_ is not None else []


def load_manifest(path: Path) -> Manifest:
    """Read and validate ``path``; a :class:`PlanError` lists every problem with its line."""
    return load_model(path, Manifest)
