"""``choreo build single|composition`` and ``choreo builds list|purge``: build without
running (to warm the cache, or to name a build as a group's prebuilt ``artifact``), see
what the cache holds, and free the disk it takes. ``choreo run composition
--build-only`` ends here too."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from choreograph import workspace
from choreograph.builders.purge import purge_builds
from choreograph.builders.records import load_records
from choreograph.builds import BuildOutcome, build_each
from choreograph.cli import durations, render, render_builds
from choreograph.cli.options import JsonOption
from choreograph.cli.reporting import reported, resolve_specs
from choreograph.config import Settings, load_settings
from choreograph.errors import InputError
from choreograph.plan import load_manifest, resolve_single
from choreograph.plan.spec import Dependency, RunSpec

build_app = typer.Typer(no_args_is_help=True, help="Build a plan's groups without running them.")
builds_app = typer.Typer(no_args_is_help=True, help="Builds cached in the home folder.")

DepOption = Annotated[
    list[str] | None,
    typer.Option(
        "--dep",
        help="Dependency override NAME==VERSION (a PyPI release) or NAME@PATH (a local "
        "source tree); repeatable.",
    ),
]


def register(app: typer.Typer) -> None:
    app.add_typer(build_app, name="build")
    app.add_typer(builds_app, name="builds")


@build_app.command("single")
def build_single(
    plan: Annotated[str, typer.Option("--plan", "-p", help="Plan name or folder.")],
    dep: DepOption = None,
    case: Annotated[
        str | None, typer.Option("--case", "-c", help="Test case (default: the first).")
    ] = None,
    builder: Annotated[str | None, typer.Option("--builder", help="Builder id.")] = None,
) -> None:
    """Build one plan, optionally with dependency overrides."""

    def resolve(settings: Settings) -> list[RunSpec]:
        plan_dir = workspace.find_plan(plan, settings.plans_dir)
        manifest = load_manifest(plan_dir / workspace.MANIFEST)
        chosen = case or (manifest.testcases[0].name if manifest.testcases else "")
        spec = resolve_single(
            manifest,
            plan_dir,
            case=chosen,
            instances=None,
            test_params={},
            builder=builder,
            runner=None,
            manifest_file=str(plan_dir / workspace.MANIFEST),
        )
        deps = tuple(parse_dep(d) for d in dep or [])
        return [replace(spec, groups=tuple(replace(g, dependencies=deps) for g in spec.groups))]

    build_and_report(resolve)


@build_app.command("composition")
def build_composition(
    file: Annotated[Path, typer.Option("--file", "-f", help="Composition TOML file.")],
    builder: Annotated[str | None, typer.Option("--builder", help="Builder id.")] = None,
) -> None:
    """Build every group of a composition (same as run composition --build-only)."""
    from choreograph.cli.app import run_composition  # one way to read a composition

    run_composition(file=file, builder=builder, build_only=True)


@builds_app.command("list")
def builds_list(as_json: JsonOption = False) -> None:
    """Builds in the cache, least recently used first."""
    with reported():
        builds_dir = load_settings().builds_dir
    records = load_records(builds_dir)
    if as_json:
        render.print_json(
            {"builds_dir": str(builds_dir), "builds": render_builds.build_documents(records)}
        )
        return
    render_builds.builds_table(builds_dir, records)


@builds_app.command("purge")
def builds_purge(
    older_than: Annotated[
        float | None,
        durations.option("--older-than", help="Only builds unused for this long: 7d, 12h, 30m."),
    ] = None,
) -> None:
    """Remove cached builds (all, or those unused for a while) and unused environments."""
    with reported():
        age = older_than
        builds_dir = load_settings().builds_dir
    render_builds.purge_summary(purge_builds(builds_dir, age))


def parse_dep(text: str) -> Dependency:
    """``NAME==VERSION`` or ``NAME@PATH`` (relative to the current folder)."""
    if "==" in text:
        name, _, version = text.partition("==")
        if name.strip() and version.strip():
            return Dependency(name.strip(), version=version.strip())
    elif "@" in text:
        name, _, path = text.partition("@")
        if name.strip() and path.strip():
            return Dependency(name.strip(), path=str(Path(path.strip()).expanduser().resolve()))
    raise InputError(f"--dep {text!r}: expected NAME==VERSION or NAME@PATH")


def build_and_report(resolve: Callable[[Settings], list[RunSpec]]) -> list[BuildOutcome]:
    """Resolve, build every spec's groups, print each build; exit 2 on bad input, 3 when
    a build failed. The builds, for callers that say more about them."""
    with reported():
        settings, specs = resolve_specs(resolve)
        outcomes: list[BuildOutcome] = []
        for spec in specs:
            outcomes += asyncio.run(build_each(spec, settings, render_builds.build_progress))
    render_builds.build_outcomes(outcomes)
    return outcomes
