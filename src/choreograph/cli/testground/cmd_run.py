"""``testground run single|composition`` (aliases ``s``, ``c``) with Testground's flags;
the work is runs.py's."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from choreograph.cli.reporting import reported
from choreograph.cli.testground import composition, runs

run_app = typer.Typer(no_args_is_help=True, help="(build and) run a test case")

Strings = list[str] | None
BuildCfg = Annotated[Strings, typer.Option("--build-cfg", help="set a build config KEY=VALUE")]
LinkSdk = Annotated[str, typer.Option("--link-sdk", help="not supported: use --dep")]
Wait = Annotated[bool, typer.Option("--wait", help="wait for the task to complete")]
Collect = Annotated[bool, typer.Option("--collect", help="collect the outputs as <id>.tgz")]
CollectFile = Annotated[
    str, typer.Option("--collect-file", "-o", help="name the collected archive FILENAME")
]
Repo = Annotated[str, typer.Option("--metadata-repo", help="repo that triggered this run")]
Branch = Annotated[str, typer.Option("--metadata-branch", help="branch that triggered it")]
Commit = Annotated[str, typer.Option("--metadata-commit", help="commit that triggered it")]


def single(
    plan: Annotated[str, typer.Option("--plan", "-p", help="the plan to run")],
    testcase: Annotated[str, typer.Option("--testcase", "-t", help="test case to run")],
    instances: Annotated[int, typer.Option("--instances", "-i", min=1, help="instances")],
    builder: Annotated[str, typer.Option("--builder", "-b", help="builder id")] = "",
    runner: Annotated[str, typer.Option("--runner", "-r", help="runner id")] = "",
    build_cfg: BuildCfg = None,
    run_cfg: Annotated[
        Strings, typer.Option("--run-cfg", help="set a run config KEY=VALUE")
    ] = None,
    test_param: Annotated[
        Strings, typer.Option("--test-param", "--tp", help="set a test parameter KEY=VALUE")
    ] = None,
    dep: Annotated[Strings, typer.Option("--dep", "-d", help="MODULE=TARGET@VERSION")] = None,
    use_build: Annotated[
        str, typer.Option("--use-build", "--ub", help="build artifact to use")
    ] = "",
    link_sdk: LinkSdk = "",
    wait: Wait = False,
    collect: Collect = False,
    collect_file: CollectFile = "",
    metadata_repo: Repo = "",
    metadata_branch: Branch = "",
    metadata_commit: Commit = "",
    disable_metrics: Annotated[
        bool, typer.Option("--disable-metrics", help="disable metrics batching")
    ] = False,
) -> None:
    """(build and) run a single group"""
    _no_link_sdk(link_sdk)
    asked = composition.Single(
        plan=plan,
        case=testcase,
        instances=instances,
        builder=builder,
        runner=runner,
        build_cfg=tuple(build_cfg or ()),
        run_cfg=tuple(run_cfg or ()),
        test_params=tuple(test_param or ()),
        use_build=use_build,
        deps=tuple(dep or ()),
        disable_metrics=disable_metrics,
    )
    with reported():
        data = composition.single_composition(asked)
    runs.run(
        runs.RunAsk(
            data,
            wait=wait,
            collect=collect,
            collect_file=collect_file,
            metadata=(metadata_repo, metadata_branch, metadata_commit),
        )
    )


def composition_(
    file: Annotated[Path, typer.Option("--file", "-f", help="path to a COMPOSITION")],
    write_artifacts: Annotated[
        bool, typer.Option("--write-artifacts", "-w", help="write the artifacts to the file")
    ] = False,
    ignore_artifacts: Annotated[
        bool, typer.Option("--ignore-artifacts", "-i", help="build even groups with artifacts")
    ] = False,
    run_ids: Annotated[str, typer.Option("--run-ids", help="run ids, comma-separated")] = "",
    result_file: Annotated[
        Path | None, typer.Option("--result-file", "-O", help="write the results CSV")
    ] = None,
    link_sdk: LinkSdk = "",
    wait: Wait = False,
    collect: Collect = False,
    collect_file: CollectFile = "",
    metadata_repo: Repo = "",
    metadata_branch: Branch = "",
    metadata_commit: Commit = "",
) -> None:
    """(build and) run a composition"""
    _no_link_sdk(link_sdk)
    with reported():
        data = composition.read(file)
    runs.run(
        runs.RunAsk(
            data,
            name=file.name,
            run_ids=tuple(r.strip() for r in run_ids.split(",") if r.strip()),
            wait=wait,
            collect=collect,
            collect_file=collect_file,
            result_file=result_file,
            write_artifacts=file if write_artifacts else None,
            ignore_artifacts=ignore_artifacts,
            metadata=(metadata_repo, metadata_branch, metadata_commit),
        )
    )


def _no_link_sdk(link_sdk: str) -> None:
    if link_sdk:
        from choreograph.cli import render

        render.error(
            "--link-sdk is not supported: name the SDK with --dep MODULE=@VERSION, or a local "
            "SDK as a composition dependency with `path`"
        )
        raise typer.Exit(2)


for _name, _alias in (("single", "s"), ("composition", "c")):
    _command = single if _name == "single" else composition_
    run_app.command(_name)(_command)
    run_app.command(_alias, hidden=True)(_command)
