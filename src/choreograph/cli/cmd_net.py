"""``choreo healthcheck [--fix] [--runner ID]``: is this host ready, and did dead runs leave
anything? ``choreo terminate --runner local:docker``: stop everything a runner started.

Exit status 0 when every check passes (after fixing, with ``--fix``), 1 otherwise.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from choreograph.cli import render
from choreograph.healthcheck import run_checks


def healthcheck(
    fix: Annotated[
        bool,
        typer.Option(
            "--fix", help="Remove leftovers of dead runs (namespaces, links, switch processes)."
        ),
    ] = False,
    runner: Annotated[
        str | None, typer.Option("--runner", help="Check this runner alone (e.g. local:docker).")
    ] = None,
) -> None:
    """Check that runners can run here and that no dead run left anything behind.

    A runner whose engine this host lacks (Docker absent or stopped, no kubeconfig) is
    reported without failing the check, unless it is the one asked for with --runner.
    """
    checks = asyncio.run(run_checks(fix, runner=runner))
    for check in checks:
        mark = "fixed" if check.fixed else "ok" if check.ok else "FAIL"
        render.console.print(f"{mark:>5}  {check.name}: {check.detail}", soft_wrap=True)
    if not all(check.ok for check in checks):
        raise typer.Exit(1)


def terminate(
    runner: Annotated[
        str | None, typer.Option("--runner", help="The runner whose work to stop.")
    ] = None,
    task: Annotated[
        str | None,
        typer.Option("--task", "-t", help="Cancel or stop a daemon's task (--endpoint)."),
    ] = None,
) -> None:
    """Stop and remove everything a runner started on this host, live runs' included
    (Testground's terminate); runs stopped this way record their instances as crashed.
    With -t, cancel a daemon's queued task or stop its running one."""
    if task is not None or runner is None:
        _terminate_task(task)
        return
    if runner == "cluster:k8s":
        from choreograph.cli.reporting import reported
        from choreograph.runners.cluster_k8s import terminate_all as terminate_k8s

        with reported():
            gone = asyncio.run(terminate_k8s())
        render.console.print(f"cluster:k8s: removed {gone} run namespaces")
        return
    if runner != "local:docker":
        render.console.print(
            f"{runner}: nothing to terminate; its instances end with their `choreo` process "
            "(Ctrl-C), and `choreo healthcheck --fix` removes what a dead run left",
            soft_wrap=True,
        )
        return
    from choreograph.runners.docker_cleanup import terminate_all

    removed = asyncio.run(terminate_all())
    render.console.print(f"local:docker: removed {removed} containers and networks")


def _terminate_task(task: str | None) -> None:
    from choreograph.cli.remote import cancel
    from choreograph.cli.reporting import reported
    from choreograph.config import load_settings

    if task is None:
        render.error("give --runner ID, or -t TASK for a daemon's task")
        raise typer.Exit(2)
    with reported():
        cancel(load_settings(), task)


def register(app: typer.Typer) -> None:
    app.command("healthcheck")(healthcheck)
    app.command("terminate")(terminate)
