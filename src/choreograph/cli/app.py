"""The ``choreo`` command: parse arguments, call the engine in-process, render results.

Exit status (the same for every command, mapped in cli/reporting.py):

- 0: success;
- 1: some instance failed, crashed or was stopped (other commands: what was checked is
  not so, e.g. ``healthcheck`` found a problem);
- 2: bad input (plan, manifest, composition, flags, run ids): fix the files or the command;
- 3: a build failed;
- 4: the host cannot do what was asked (a port already in use, a full disk): fix the
  machine, the input is fine;
- 130: interrupted before the run started.

Over 400 lines because the run options (``--timeout``, ``--json``, series, metadata) are
shared by ``run single`` and ``run composition`` and declared once here, beside the one
``_run`` both end in; feature commands live in ``cmd_<topic>.py``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from choreograph import __version__, eventloop, workspace
from choreograph.calibrate import substitute_calibrated
from choreograph.cli import durations, render
from choreograph.cli import series_options as so
from choreograph.cli.cmd_collect import archive_run
from choreograph.cli.interrupts import stop_on_signals
from choreograph.cli.options import JsonOption
from choreograph.cli.remote import Submission, run_remote
from choreograph.cli.reporting import reported, resolve_specs
from choreograph.config import Settings, load_settings
from choreograph.engine import RunOptions, RunResult, StopRequest, execute
from choreograph.plan import (
    load_composition,
    load_manifest,
    parse_test_param_flags,
    resolve_composition,
    resolve_single,
)
from choreograph.plan.spec import RunSpec
from choreograph.results.layout import RunLayout, list_runs
from choreograph.services import mocks

app = typer.Typer(
    no_args_is_help=True,
    add_completion=True,
    help="Choreograph: test plans for distributed systems, run like unit tests.",
)
plan_app = typer.Typer(no_args_is_help=True, help="Create, import, list and remove plans.")
run_app = typer.Typer(no_args_is_help=True, help="Run a plan: one case, or a composition.")
runs_app = typer.Typer(no_args_is_help=True, help="Runs recorded in the home folder.")
app.add_typer(plan_app, name="plan")
app.add_typer(run_app, name="run")
app.add_typer(runs_app, name="runs")


def _settings() -> Settings:
    return load_settings()


@app.callback()
def _global_options(
    endpoint: Annotated[
        str | None,
        typer.Option(
            "--endpoint",
            help="A daemon's URL (`choreo daemon`): runs are submitted there, not run here "
            "(also CHOREO_ENDPOINT, or endpoint in config.toml).",
        ),
    ] = None,
) -> None:
    if endpoint is not None:
        os.environ["CHOREO_ENDPOINT"] = endpoint  # settings read it, over config.toml


TpOption = Annotated[
    list[str] | None,
    typer.Option("--tp", "--test-param", help="Test param override KEY=VALUE (repeatable)."),
]
CollectOption = Annotated[
    bool, typer.Option("--collect", help="Then archive each run's folder as <run id>.tgz here.")
]
WaitOption = Annotated[
    bool, typer.Option("--wait", help="Testground's flag, accepted: runs are always waited for.")
]
TimeoutOption = Annotated[
    float | None,
    durations.option(
        "--timeout",
        help="Stop the run after this long: 30s, 10m, 1h; a plain number is seconds "
        "(default: run_timeout_s of config.toml, 10m).",
    ),
]

FailFastOption = Annotated[
    bool, typer.Option("--fail-fast", help="Stop the whole run at the first failure or crash.")
]
RunnerOption = Annotated[str | None, typer.Option("--runner", help="Runner id, e.g. local:exec.")]
BuilderOption = Annotated[
    str | None, typer.Option("--builder", help="Builder id, e.g. exec:python.")
]
MessagesOption = Annotated[bool, typer.Option("--messages", help="Show instances' messages live.")]
ServiceModeOption = Annotated[
    list[str] | None,
    typer.Option(
        "--service-mode",
        help="Mode of a mock-collector service for this run, NAME=MODE (repeatable): "
        "typical, slow_succeed or slow_fail.",
    ),
]
RepoOption = Annotated[
    str, typer.Option("--metadata-repo", help="With --endpoint: the tested code's repository.")
]
BranchOption = Annotated[
    str, typer.Option("--metadata-branch", help="With --endpoint: its branch.")
]
CommitOption = Annotated[
    str, typer.Option("--metadata-commit", help="With --endpoint: its commit.")
]


@run_app.command("single")
def run_single(
    plan: Annotated[str, typer.Option("--plan", "-p", help="Plan name or folder.")],
    case: Annotated[str, typer.Option("--case", "-c", "--testcase", help="Test case name.")],
    instances: Annotated[
        int | None, typer.Option("--instances", "-i", help="Instance count.")
    ] = None,
    tp: TpOption = None,
    runner: RunnerOption = None,
    builder: BuilderOption = None,
    timeout: TimeoutOption = None,
    fail_fast: FailFastOption = False,
    messages: MessagesOption = False,
    repeat: so.RepeatOption = 1,
    until_stable: so.UntilStableOption = None,
    rel_ci: so.RelCiOption = 0.02,
    confidence: so.ConfidenceOption = 0.95,
    max_runs: so.MaxRunsOption = 100,
    min_runs: so.MinRunsOption = 3,
    service_mode: ServiceModeOption = None,
    use_build: Annotated[
        str | None,
        typer.Option(
            "--use-build",
            help="Run this build (an id from `choreo builds list`, or a Docker image for "
            "docker:* builders) instead of building the plan.",
        ),
    ] = None,
    metadata_repo: RepoOption = "",
    metadata_branch: BranchOption = "",
    metadata_commit: CommitOption = "",
    collect: CollectOption = False,
    wait: WaitOption = False,
    as_json: JsonOption = False,
) -> None:
    """Run one test case of a plan with N instances in one group."""

    def resolve(settings: Settings) -> list[RunSpec]:
        plan_dir = workspace.find_plan(plan, settings.plans_dir)
        manifest_file = plan_dir / workspace.MANIFEST
        manifest = load_manifest(manifest_file)
        spec = resolve_single(
            manifest,
            plan_dir,
            case=case,
            instances=instances,
            test_params=substitute_calibrated(
                parse_test_param_flags(tp or []), settings.home, manifest.name, case
            ),
            builder=builder,
            runner=runner,
            manifest_file=str(manifest_file),
        )
        if use_build:
            groups = tuple(dataclasses.replace(g, artifact=use_build) for g in spec.groups)
            spec = dataclasses.replace(spec, groups=groups)
        return [spec]

    series = so.series_plan(repeat, until_stable, rel_ci, confidence, max_runs, min_runs)
    submission = Submission(
        case=case,
        instances=instances,
        tp=tuple(tp or ()),
        runner=runner,
        builder=builder,
        use_build=use_build,
        repo=metadata_repo,
        branch=metadata_branch,
        commit=metadata_commit,
    )
    _run(resolve, timeout, fail_fast, messages, series, service_mode, submission, collect, as_json)


@run_app.command("composition")
def run_composition(
    file: Annotated[Path, typer.Option("--file", "-f", help="Composition TOML file.")],
    tp: TpOption = None,
    runner: RunnerOption = None,
    builder: BuilderOption = None,
    timeout: TimeoutOption = None,
    fail_fast: FailFastOption = False,
    messages: MessagesOption = False,
    repeat: so.RepeatOption = 1,
    until_stable: so.UntilStableOption = None,
    rel_ci: so.RelCiOption = 0.02,
    confidence: so.ConfidenceOption = 0.95,
    max_runs: so.MaxRunsOption = 100,
    min_runs: so.MinRunsOption = 3,
    build_only: Annotated[
        bool, typer.Option("--build-only", help="Build every group, run nothing.")
    ] = False,
    service_mode: ServiceModeOption = None,
    metadata_repo: RepoOption = "",
    metadata_branch: BranchOption = "",
    metadata_commit: CommitOption = "",
    collect: CollectOption = False,
    wait: WaitOption = False,
    as_json: JsonOption = False,
) -> None:
    """Run a composition: several groups, each with its own params and build settings."""

    def resolve(settings: Settings) -> list[RunSpec]:
        return composition_specs(file, settings, tp or [], builder, runner)

    if build_only:
        from choreograph.cli.cmd_build import build_and_report
        from choreograph.errors import InputError

        with reported():
            if _settings().endpoint:
                raise InputError("--build-only builds here only; drop --endpoint for it")
        build_and_report(resolve)
        return
    series = so.series_plan(repeat, until_stable, rel_ci, confidence, max_runs, min_runs)
    submission = Submission(
        tp=tuple(tp or ()),
        runner=runner,
        builder=builder,
        composition=file,
        repo=metadata_repo,
        branch=metadata_branch,
        commit=metadata_commit,
    )
    _run(resolve, timeout, fail_fast, messages, series, service_mode, submission, collect, as_json)


def composition_specs(
    file: Path, settings: Settings, tp: list[str], builder: str | None, runner: str | None
) -> list[RunSpec]:
    """The run specs of a composition file, as ``run composition`` resolves them."""
    composition = load_composition(file)
    plan_dir = workspace.composition_plan(composition, settings.plans_dir)
    manifest = load_manifest(plan_dir / workspace.MANIFEST)
    return resolve_composition(
        composition,
        manifest,
        plan_dir,
        test_params=substitute_calibrated(
            parse_test_param_flags(tp), settings.home, manifest.name, composition.global_.case
        ),
        builder=builder,
        runner=runner,
    )


def _run(
    resolve: Callable[[Settings], list[RunSpec]],
    timeout: float | None,
    fail_fast: bool,
    messages: bool,
    series: so.SeriesPlan | None = None,
    service_modes: list[str] | None = None,
    submission: Submission | None = None,
    collect: bool = False,
    as_json: bool = False,
) -> None:
    def resolve_with_modes(settings: Settings) -> list[RunSpec]:
        modes = mocks.parse_mode_flags(service_modes or [])
        return [mocks.with_modes(spec, modes) for spec in resolve(settings)]

    with reported(), render.progress_to_stderr(as_json):
        settings, specs = resolve_specs(resolve_with_modes)
        if settings.endpoint and submission is not None:
            modes = service_modes or []
            code = run_remote(
                settings, specs, submission, timeout, fail_fast, messages, modes, series, collect
            )
            raise typer.Exit(code)
        options = RunOptions(
            timeout_s=timeout or settings.run_timeout_s,
            fail_fast=fail_fast,
            stop_grace_s=settings.stop_grace_s,
        )
        document: dict[str, object] = {}
        if series is not None:
            states = [
                so.run_series_rendered(spec, settings, options, series, messages) for spec in specs
            ]
            ok = all(state.success for state in states)
            document["series"] = [so.series_document(state) for state in states]
        else:
            timed = [_execute_timed(spec, settings, options, messages) for spec in specs]
            ok = all(result.success for result, _ in timed)
            document["runs"] = [render.run_document(r, seconds) for r, seconds in timed]
            for result, _ in timed if collect else ():
                archive_run(result.run_id, None)
        document["success"] = ok
    if as_json:
        render.print_json(document)
    if not ok:
        raise typer.Exit(1)


def execute_rendered(
    spec: RunSpec, settings: Settings, options: RunOptions, messages: bool
) -> RunResult:
    """Run ``spec`` here with live progress and its outcome table (Ctrl-C stops it)."""
    return _execute_timed(spec, settings, options, messages)[0]


def _execute_timed(
    spec: RunSpec, settings: Settings, options: RunOptions, messages: bool
) -> tuple[RunResult, float | None]:
    """The run's result and the seconds of the run itself (its build excluded)."""
    return eventloop.run(_execute(spec, settings, options, messages))


async def _execute(
    spec: RunSpec, settings: Settings, options: RunOptions, messages: bool
) -> tuple[RunResult, float | None]:
    stop = StopRequest()
    with stop_on_signals(stop.request), render.LiveProgress(show_messages=messages) as live:
        result = await execute(spec, settings, options, live, stop)
    render.outcome_table(result, live.run_seconds)
    return result, live.run_seconds


@plan_app.command("create")
def plan_create(name: str) -> None:
    """Scaffold a Python plan (manifest + one case) in the plan store."""
    with reported():
        path = workspace.create_plan(name, _settings().plans_dir)
    render.console.print(
        f"created plan {name} at {path}\n"
        f"run it: choreo run single --plan {name} --case quickstart -i 3"
    )


@plan_app.command("import")
def plan_import(
    source: Annotated[Path, typer.Option("--from", help="Plan folder to copy in.")],
    name: Annotated[str | None, typer.Option("--name", help="Name in the store.")] = None,
) -> None:
    """Copy a plan folder into the plan store; a folder of plans imports each one as
    NAME/PLAN (NAME: --name, else the folder's name)."""
    with reported():
        plans_dir = _settings().plans_dir
        paths = workspace.import_plans(source, plans_dir, name)
    for path in paths:
        render.console.print(f"imported plan {path.relative_to(plans_dir).as_posix()} at {path}")


@plan_app.command("list")
def plan_list(as_json: JsonOption = False) -> None:
    """Plans in the store."""
    with reported():
        plans_dir = _settings().plans_dir
    names = workspace.list_plans(plans_dir)
    if as_json:
        render.print_json({"plans_dir": str(plans_dir), "plans": names})
        return
    if not names:
        render.console.print(f"no plans in {plans_dir}")
    for name in names:
        render.console.print(name)


@plan_app.command("rm")
def plan_rm(name: str) -> None:
    """Remove a plan from the store."""
    with reported():
        path = workspace.remove_plan(name, _settings().plans_dir)
    render.console.print(f"removed {path}")


@app.command("describe")
def describe(plan: str) -> None:
    """Show a plan's test cases, instance limits and params."""
    with reported():
        plan_dir = workspace.find_plan(plan, _settings().plans_dir)
        manifest = load_manifest(plan_dir / workspace.MANIFEST)
    render.describe_manifest(plan_dir, manifest)


@runs_app.command("list")
def runs_list(as_json: JsonOption = False) -> None:
    """Runs in the home folder, newest first (`latest` names the first one)."""
    from choreograph.results.liveness import effective_status

    with reported():
        runs_dir = _settings().runs_dir
    newest_first = reversed(list_runs(runs_dir))
    records = [RunLayout(runs_dir, run_id).read_run_json() for run_id in newest_first]
    for record in records:
        # A run whose owner died (SIGKILL, crash) reads as aborted, not running forever.
        record["status"] = effective_status(record)
    if as_json:
        render.print_json({"runs_dir": str(runs_dir), "runs": records})
        return
    render.runs_table(runs_dir, records)


@app.command("version")
def version() -> None:
    """Print Choreograph's version."""
    render.console.print(__version__)


def _register_command_modules() -> None:
    """Each ``cli/cmd_<topic>.py`` module adds its commands with ``register(app)``, so a
    feature brings its commands without editing this file."""
    import importlib
    import pkgutil

    import choreograph.cli as package

    for module in sorted(m.name for m in pkgutil.iter_modules(package.__path__)):
        if module.startswith("cmd_"):
            importlib.import_module(f"choreograph.cli.{module}").register(app)


_register_command_modules()


def main() -> None:
    app()
