"""``testground build single|composition`` (aliases ``s``, ``c``): ``choreo build``'s
work (cmd_build.build_and_report) on the same compositions ``testground run`` makes,
then Testground's ``generated build artifact`` line per group, which scripts read with
``awk -F'"' '/generated build artifact/ {print $8}'``: the Docker image of a ``docker:*``
build (what ``docker tag`` takes), else the build id (what ``--use-build`` takes).

With a daemon (``--endpoint``, or ``[client] endpoint`` answering), the build is a task
of the daemon, as Testground's: ``build queued with ID: …``, and with ``--wait`` its log
followed and then the artifact lines, read from the task's ``BuildFinished`` events. The
artifacts are then where the daemon runs (its image store, its build cache), which is
where its runs will look for them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from choreograph import plugins, workspace
from choreograph.cli import remote
from choreograph.cli.cmd_build import build_and_report
from choreograph.cli.reporting import reported, resolve_specs
from choreograph.cli.testground import composition, lines, session
from choreograph.cli.testground.cmd_run import BuildCfg, LinkSdk, Wait, _no_link_sdk
from choreograph.config import load_settings
from choreograph.plan import load_manifest
from choreograph.plan.manifest import Manifest

build_app = typer.Typer(no_args_is_help=True, help="build a test plan")


def single(
    plan: Annotated[str, typer.Option("--plan", "-p", help="the plan to build")],
    builder: Annotated[str, typer.Option("--builder", "-b", help="builder id")] = "",
    build_cfg: BuildCfg = None,
    dep: Annotated[
        list[str] | None, typer.Option("--dep", "-d", help="MODULE=TARGET@VERSION")
    ] = None,
    link_sdk: LinkSdk = "",
    wait: Wait = False,
) -> None:
    """builds a single group"""
    _no_link_sdk(link_sdk)
    with reported():
        plan_dir = workspace.find_plan(plan, load_settings().plans_dir)
        manifest = load_manifest(plan_dir / workspace.MANIFEST)
        first = manifest.testcases[0].name if manifest.testcases else ""
        asked = composition.Single(
            plan=plan,
            case=first,
            builder=builder,
            runner=_runner_for_building(manifest, builder),
            instances=max(1, manifest.testcases[0].instances.min) if manifest.testcases else 1,
            build_cfg=tuple(build_cfg or ()),
            deps=tuple(dep or ()),
        )
        data = composition.single_composition(asked)
    lines.info(f"test plan source at: {plan_dir}")
    _build(data, composition.SINGLE, wait)


def _runner_for_building(manifest: Manifest, builder: str) -> str:
    """A build needs no runner, but the run spec it is resolved through names one: with
    no ``[defaults] runner`` (Testground's ``splitbrain``), the first runner the manifest
    enables that runs here, else the one that takes the builder's artifacts."""
    if manifest.defaults.runner:
        return ""
    known = [r for r in manifest.enabled_runners() if r in plugins.RUNNERS]
    local = [r for r in known if r.startswith("local:")]  # needs no cluster to resolve
    if known:
        return (local or known)[0]
    return (
        "local:docker"
        if (builder or manifest.defaults.builder or "").startswith("docker:")
        else "local:exec"
    )


def composition_(
    file: Annotated[Path, typer.Option("--file", "-f", help="path to a COMPOSITION")],
    write_artifacts: Annotated[
        bool, typer.Option("--write-artifacts", "-w", help="write the artifacts to the file")
    ] = False,
    link_sdk: LinkSdk = "",
    wait: Wait = False,
) -> None:
    """builds a composition"""
    _no_link_sdk(link_sdk)
    with reported():
        data = composition.read(file)
    artifacts = _build(data, file.name, wait)
    if write_artifacts and artifacts:
        with reported():
            composition.write_artifacts(file, artifacts)


def _build(data: dict[str, Any], name: str, wait: bool) -> dict[str, str]:
    """Build every group, here or as a daemon's task; print and return each group's
    artifact (none for a daemon's task not waited for)."""
    if session.use_daemon():
        return _build_on_daemon(data, name, wait)
    artifacts: dict[str, str] = {}
    for outcome in build_and_report(composition.resolver(data, name)):
        for group in outcome.groups:
            artifacts[group] = outcome.artifact.reference
            lines.info("generated build artifact", group=group, artifact=artifacts[group])
    return artifacts


def _build_on_daemon(data: dict[str, Any], name: str, wait: bool) -> dict[str, str]:
    with reported():
        settings, specs = resolve_specs(composition.resolver(data, name))
        with composition.written(data, name) as file:
            submission = remote.Submission(composition=file)
            daemon, task_id = remote.submit_task(
                settings, specs[:1], submission, None, False, [], kind="build"
            )
    lines.info(f"build queued with ID: {task_id}")
    artifacts: dict[str, str] = {}

    def built(event: dict[str, object]) -> None:
        if event.get("type") == "BuildFinished":
            groups = event.get("groups")
            for group in groups if isinstance(groups, list) else ():
                artifacts[str(group)] = str(event.get("artifact") or "")

    try:
        if not wait:
            return artifacts
        code = remote.follow(daemon, task_id, messages=False, on_event=built)
    finally:
        daemon.close()
    if code:
        raise typer.Exit(code)
    for group, artifact in artifacts.items():
        lines.info("generated build artifact", group=group, artifact=artifact)
    return artifacts


for _name, _alias in (("single", "s"), ("composition", "c")):
    _command = single if _name == "single" else composition_
    build_app.command(_name)(_command)
    build_app.command(_alias, hidden=True)(_command)
