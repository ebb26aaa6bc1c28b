"""Manifest + composition (or single-run flags) → :class:`RunSpec`: every default applied.

Precedence, lowest first:

- builder: manifest ``[defaults]`` < ``[global] builder`` < ``[[groups]] builder`` < flag;
- runner: manifest ``[defaults]`` < ``[global] runner`` < flag;
- build config (top-level keys): manifest ``[builders."<id>"]`` < ``[global.build_config]``
  < ``[groups.build_config]``; run config: manifest ``[runners."<id>"]`` <
  ``[global.run_config]``;
- params: see :mod:`choreograph.plan.params`; ``--tp`` comes last;
- selectors: a group's own, else ``[global.build]``'s; dependencies: a group's own plus
  ``[global.build]``'s for modules the group does not name.

A builder or runner chosen by a flag is taken as given (the engine checks the host
can provide it); one chosen by the files must be enabled by the manifest.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from choreograph.errors import InputError, Issue, PlanError
from choreograph.plan._toml import KeyPath, format_field
from choreograph.plan.composition import Composition, PlannedGroup, PlannedRun
from choreograph.plan.manifest import Manifest, TestCase
from choreograph.plan.params import Param, ParamLayer, resolve_params
from choreograph.plan.spec import Dependency, GroupSpec, RunSpec

# A builder or runner named (or not: "") in one place, with where: (source, field, line).
_Choice = tuple[str, tuple[str, str, int | None]]


def resolve_single(
    manifest: Manifest,
    plan_dir: Path,
    *,
    case: str,
    instances: int | None,
    test_params: dict[str, str],
    builder: str | None,
    runner: str | None,
    manifest_file: str,
) -> RunSpec:
    """One group, ``single``, of ``instances`` (else the case's default) instances."""
    source = manifest_file or manifest.source
    found = manifest.find_case(case)
    if found is None:
        raise PlanError(Issue(source, "testcases", manifest.no_case_problem(case)))
    index, tc = found
    issues: list[Issue] = []
    count = tc.instances.default_count if instances is None else instances
    if not tc.instances.allows(count):
        where = _cite(source, manifest.line("testcases", index, "instances"))
        problem = (
            f"expected {tc.instances.describe()} instances for case {case!r} ({where}), "
            f"found {count}"
        )
        issues.append(Issue("--instances", "instances", problem))
    chosen_builder = _choose(
        "builder", builder, manifest, [_default(manifest, source, "builder")], issues
    )
    chosen_runner = _choose(
        "runner", runner, manifest, [_default(manifest, source, "runner")], issues
    )
    params = _params(tc.params, [ParamLayer("--tp", "", test_params)], case, issues)
    if issues:
        raise PlanError(issues)
    assert chosen_builder is not None and chosen_runner is not None and params is not None
    group = GroupSpec(
        id="single",
        instances=count,
        params=params,
        builder=chosen_builder,
        build_config=manifest.builder_config(chosen_builder),
    )
    return RunSpec(
        plan=manifest.name,
        enabled_builders=tuple(manifest.enabled_builders()),
        enabled_runners=tuple(manifest.enabled_runners()),
        plan_dir=plan_dir,
        case=case,
        runner=chosen_runner,
        groups=(group,),
        run_config=manifest.runner_config(chosen_runner),
    )


def resolve_composition(
    composition: Composition,
    manifest: Manifest,
    plan_dir: Path,
    *,
    test_params: dict[str, str],
    builder: str | None,
    runner: str | None,
) -> list[RunSpec]:
    """One RunSpec per ``[[runs]]`` entry, or one (``default``) when there are none."""
    comp, g = composition, composition.global_
    case = comp.global_.case
    found = manifest.find_case(case)
    if found is None:
        issue = comp.issue(("global", "case"), manifest.no_case_problem(case))
        raise PlanError(issue)
    index, tc = found
    issues: list[Issue] = []
    run_choices = [_at(comp, ("global", "runner"), g.runner), _default(manifest, "", "runner")]
    chosen_runner = _choose("runner", runner, manifest, run_choices, issues)
    builders = [_group_builder(comp, manifest, i, builder, issues) for i in range(len(comp.groups))]
    specs = []
    for run in comp.plan_runs():
        total = sum(pg.instances for pg in run.groups)
        if not tc.instances.allows(total):
            where = _cite(manifest.source, manifest.line("testcases", index, "instances"))
            problem = (
                f"expected {tc.instances.describe()} instances in all for case {case!r} "
                f"({where}), found {total} in run {run.id!r}"
            )
            issues.append(comp.issue(run.path, problem))
        warnings: list[Issue] = []
        groups = [
            _group(comp, manifest, tc, pg, builders, test_params, issues, warnings)
            for pg in run.groups
        ]
        if chosen_runner is not None and all(groups):
            spec = _run_spec(comp, manifest, plan_dir, run, chosen_runner, groups)
            specs.append(replace(spec, warnings=tuple(dict.fromkeys(map(str, warnings)))))
    if issues:
        raise PlanError(issues)
    return specs


def _run_spec(
    comp: Composition,
    manifest: Manifest,
    plan_dir: Path,
    run: PlannedRun,
    runner: str,
    groups: list[GroupSpec | None],
) -> RunSpec:
    g = comp.global_
    return RunSpec(
        plan=manifest.name,
        enabled_builders=tuple(manifest.enabled_builders()),
        enabled_runners=tuple(manifest.enabled_runners()),
        plan_dir=plan_dir,
        case=g.case,
        runner=runner,
        groups=tuple(x for x in groups if x is not None),
        run_config={**manifest.runner_config(runner), **copy.deepcopy(g.run_config)},
        composition_file=comp.source,
        disable_metrics=g.disable_metrics,
        composition_run=run.id,
        concurrent_builds=g.concurrent_builds,
        services=tuple(s.to_spec() for s in comp.services),
    )


def _group(
    comp: Composition,
    manifest: Manifest,
    tc: TestCase,
    planned: PlannedGroup,
    builders: list[str | None],
    test_params: dict[str, str],
    issues: list[Issue],
    warnings: list[Issue],
) -> GroupSpec | None:
    layers = [*planned.param_layers, ParamLayer("--tp", "", test_params)]
    params = _params(tc.params, layers, comp.global_.case, issues, warnings)
    builder = builders[planned.group_index]
    if params is None or builder is None:
        return None
    g, group = comp.global_.build, comp.groups[planned.group_index]
    own = {d.module for d in group.build.dependencies}
    deps = [*group.build.dependencies, *(d for d in g.dependencies if d.module not in own)]
    config = {
        **manifest.builder_config(builder),
        **copy.deepcopy(comp.global_.build_config),
        **copy.deepcopy(group.build_config),
    }
    return GroupSpec(
        id=planned.id,
        instances=planned.instances,
        params=params,
        builder=builder,
        build_config=config,
        dependencies=tuple(
            Dependency(d.module, d.version, d.target, _local_path(comp.source, d.path))
            for d in deps
        ),
        selectors=tuple(group.build.selectors or g.selectors),
        artifact=group.run.artifact or comp.global_.run.artifact,
        resources=planned.resources,
    )


def _local_path(composition_file: str, path: str) -> str:
    """A dependency's ``path`` is relative to the composition file; resolved here, so
    builders (and groups comparing build configs) see one absolute path."""
    if not path:
        return ""
    base = Path(composition_file).parent if composition_file else Path.cwd()
    return str((base / Path(path).expanduser()).resolve())


def _group_builder(
    comp: Composition, manifest: Manifest, i: int, flag: str | None, issues: list[Issue]
) -> str | None:
    choices = [
        _at(comp, ("groups", i, "builder"), comp.groups[i].builder),
        _at(comp, ("global", "builder"), comp.global_.builder),
        _default(manifest, "", "builder"),
    ]
    return _choose("builder", flag, manifest, choices, issues)


def _at(comp: Composition, path: KeyPath, value: str) -> _Choice:
    return value, (comp.source, format_field(path), comp.line(*path))


def _default(manifest: Manifest, source: str, kind: str) -> _Choice:
    value = manifest.defaults.builder if kind == "builder" else manifest.defaults.runner
    where = (source or manifest.source, f"defaults.{kind}", manifest.line("defaults", kind))
    return value or "", where


def _choose(
    kind: str,
    flag: str | None,
    manifest: Manifest,
    choices: list[_Choice],
    issues: list[Issue],
) -> str | None:
    """The flag, else the first choice made in the files, which must be enabled."""
    if flag:
        return flag
    value, (source, field, line) = next((c for c in choices if c[0]), choices[-1])
    if not value:
        places = " or ".join(f"{where[1]} ({where[0]})" for _, where in choices)
        issues.append(Issue(source, field, f"no {kind} chosen; expected one in {places}", line))
        return None
    enabled = manifest.enabled_builders() if kind == "builder" else manifest.enabled_runners()
    if value not in enabled:
        listed = ", ".join(enabled) if enabled else f'none (add [{kind}s."<id>"])'
        problem = (
            f"{kind} {value!r} is not enabled by the manifest of plan {manifest.name!r}; "
            f"enabled: {listed}"
        )
        issue = Issue(source, field, problem, line)
        if issue not in issues:
            issues.append(issue)
        return None
    return value


def _params(
    declared: Mapping[str, Param],
    layers: list[ParamLayer],
    case: str,
    issues: list[Issue],
    warnings: list[Issue] | None = None,
) -> dict[str, str] | None:
    try:
        return resolve_params(declared, layers, case=case, warnings=warnings)
    except PlanError as exc:
        issues.extend(i for i in exc.issues if i not in issues)
        return None


def _cite(source: str, line: int | None) -> str:
    return f"{source}:{line}" if line else source


def select_run(specs: list[RunSpec], wanted: str | None, source: object, flag: str) -> RunSpec:
    """The one run of a composition's ``specs`` a command works on: the ``[[runs]]`` entry
    ``wanted``, or the only one. ``flag`` is how the caller names the choice (``--run
    ID``, ``composition_run=…``), so the error says what to type."""
    found = [s for s in specs if wanted is None or s.composition_run == wanted]
    if len(found) != 1:
        ids = ", ".join(s.composition_run for s in specs)
        asked = f"no [[runs]] {wanted!r}" if wanted else "several [[runs]]"
        raise InputError(f"{source} has {asked}; its runs: {ids} (choose one with {flag})")
    return found[0]
