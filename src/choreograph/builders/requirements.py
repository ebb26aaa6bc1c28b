"""A Python plan's dependency set: what the plan declares (``requirements.txt`` or
``[project] dependencies`` in ``pyproject.toml``) with a group's overrides applied.

The set is kept in one canonical form (sorted, names normalised as PEP 503 does), so
groups whose overrides end up at the same requirements share one environment, and the
same form is what the environment key hashes and what build records show.

Overrides (``[groups.build] dependencies``) replace the plan's requirement of the same
name, or add one:

- ``{module = "NAME", version = "X"}`` pins ``NAME==X`` (a version starting with an
  operator, ``">=2,<3"``, is taken as a specifier);
- ``{module = "NAME", path = "DIR"}`` installs the source tree at ``DIR`` (built, not
  editable: see :mod:`choreograph.builders.venv`);
- ``target = "OTHER"`` installs the distribution ``OTHER`` in ``NAME``'s place.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from choreograph.errors import BuildError
from choreograph.plan.spec import Dependency

REQUIREMENTS_TXT = "requirements.txt"
PYPROJECT = "pyproject.toml"

_NAME = re.compile(r"\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)")
_SPECIFIER_START = ("=", "<", ">", "!", "~")


def canonical_name(name: str) -> str:
    """PEP 503 normalisation: ``Foo_Bar.baz`` and ``foo-bar-baz`` are one project."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Requirement:
    """One line of the dependency set."""

    name: str
    """Canonical project name."""
    spec: str
    """The requirement as the installer reads it; for a local tree, ``NAME @ <path>``."""
    origin: str
    """Where it came from, for messages: ``requirements.txt:3``, ``override``."""
    local: Path | None = None
    """A local source tree to build and install (an override's ``path``)."""


@dataclass(frozen=True)
class DependencySet:
    requirements: tuple[Requirement, ...]
    declared_in: str
    """``requirements.txt``, ``pyproject.toml``, or "" when the plan declares nothing."""

    @property
    def isolated(self) -> bool:
        """Whether the plan gets its own environment: it declares dependencies (even an
        empty list) or a group overrides some. Otherwise it runs on the host interpreter."""
        return bool(self.declared_in or self.requirements)

    def lines(self) -> list[str]:
        return [r.spec for r in self.requirements]

    def naming(self, text: str) -> list[Requirement]:
        """The requirements whose name ``text`` mentions (an installer's error), else all."""
        lowered = text.lower()
        named = [r for r in self.requirements if _mentions(lowered, r.name)]
        return named or list(self.requirements)


def _mentions(text: str, name: str) -> bool:
    variants = {name, name.replace("-", "_"), name.replace("-", ".")}
    return any(re.search(rf"(?<![\w.-]){re.escape(v)}(?![\w-])", text) for v in variants)


def dependency_set(plan_dir: Path, overrides: tuple[Dependency, ...], what: str) -> DependencySet:
    """The plan's declared requirements with ``overrides`` applied; BuildError on bad input."""
    declared_in, declared = _declared(plan_dir, what)
    by_name = {r.name: r for r in declared}
    for dep in overrides:
        replaced = canonical_name(dep.module)
        by_name.pop(replaced, None)
        requirement = _override(dep, what)
        by_name[requirement.name] = requirement
    ordered = tuple(by_name[name] for name in sorted(by_name))
    return DependencySet(ordered, declared_in)


def _override(dep: Dependency, what: str) -> Requirement:
    project = dep.target or dep.module
    if _NAME.fullmatch(project) is None:
        raise BuildError(f"{what}: dependency {project!r} is not a valid project name")
    name = canonical_name(project)
    if dep.path:
        return Requirement(name, f"{project} @ {dep.path}", "override", Path(dep.path))
    version = dep.version.strip()
    spec = version if version.startswith(_SPECIFIER_START) else f"=={version}"
    return Requirement(name, f"{project}{spec}", "override")


def _declared(plan_dir: Path, what: str) -> tuple[str, list[Requirement]]:
    txt = plan_dir / REQUIREMENTS_TXT
    from_txt = _from_requirements_txt(txt, what) if txt.is_file() else None
    from_toml = _from_pyproject(plan_dir / PYPROJECT, what)
    if from_txt is not None and from_toml is not None:
        raise BuildError(
            f"{what}: the plan declares dependencies in both {REQUIREMENTS_TXT} and "
            f"{PYPROJECT} [project] dependencies; keep one"
        )
    if from_txt is not None:
        return REQUIREMENTS_TXT, from_txt
    if from_toml is not None:
        return PYPROJECT, from_toml
    return "", []


def _from_requirements_txt(path: Path, what: str) -> list[Requirement]:
    found = []
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        origin = f"{REQUIREMENTS_TXT}:{number}"
        if line.startswith("-"):
            raise BuildError(
                f"{what}: {path}:{number}: installer options ({line.split()[0]}) are not "
                "supported in a plan's requirements; list requirements only (set an index "
                "with UV_INDEX_URL or PIP_INDEX_URL)"
            )
        found.append(_parse(line, origin, path, what))
    return found


def _from_pyproject(path: Path, what: str) -> list[Requirement] | None:
    if not path.is_file():
        return None
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise BuildError(f"{what}: {path} is not valid TOML: {exc}") from None
    deps = data.get("project", {}).get("dependencies")
    if deps is None:
        return None
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        raise BuildError(f"{what}: {path}: [project] dependencies must be a list of strings")
    return [_parse(d, f"{PYPROJECT} [project] dependencies", path, what) for d in deps]


def _parse(line: str, origin: str, path: Path, what: str) -> Requirement:
    match = _NAME.match(line)
    if match is None:
        raise BuildError(
            f"{what}: {path} ({origin}): expected a requirement such as 'name>=1.2', found {line!r}"
        )
    return Requirement(canonical_name(match.group(1)), line, origin)
