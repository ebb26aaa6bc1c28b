"""Plans: manifest and composition files, test params, and their resolution into RunSpecs.

Builders, runners and results import the plain records of ``plan.spec`` and
``plan.facts``; so that doing so stays cheap, the pydantic-based names below are
imported on first use rather than with the package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from choreograph.plan.composition import Composition, load_composition
    from choreograph.plan.manifest import InstanceBounds, Manifest, TestCase, load_manifest
    from choreograph.plan.params import (
        PARAM_TYPES,
        Param,
        ParamLayer,
        parse_test_param_flags,
        resolve_params,
    )
    from choreograph.plan.resolve import resolve_composition, resolve_single
    from choreograph.plan.spec import Artifact, BuildRequest, Dependency, GroupSpec, RunSpec

_EXPORTS = {
    "Composition": "composition",
    "load_composition": "composition",
    "InstanceBounds": "manifest",
    "Manifest": "manifest",
    "TestCase": "manifest",
    "load_manifest": "manifest",
    "PARAM_TYPES": "params",
    "Param": "params",
    "ParamLayer": "params",
    "parse_test_param_flags": "params",
    "resolve_params": "params",
    "resolve_composition": "resolve",
    "resolve_single": "resolve",
    "Artifact": "spec",
    "BuildRequest": "spec",
    "Dependency": "spec",
    "GroupSpec": "spec",
    "RunSpec": "spec",
}
__all__ = [
    "PARAM_TYPES",
    "Artifact",
    "BuildRequest",
    "Composition",
    "Dependency",
    "GroupSpec",
    "InstanceBounds",
    "Manifest",
    "Param",
    "ParamLayer",
    "RunSpec",
    "TestCase",
    "load_composition",
    "load_manifest",
    "parse_test_param_flags",
    "resolve_composition",
    "resolve_params",
    "resolve_single",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
