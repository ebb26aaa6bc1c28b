"""``testground daemon|healthcheck|terminate|describe|version``: each calls the ``choreo``
command that does the same work, with Testground's flags and ``.env.toml`` settings."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from choreograph import __version__
from choreograph.cli import app as choreo
from choreograph.cli import cmd_daemon, cmd_net
from choreograph.cli.reporting import reported
from choreograph.cli.testground import lines, session
from choreograph.cli.testground.config import served_listen

BRANCH_SETTLE_S = 3.0
"""How long a task on a branch stays queued before a worker may take it. Testground's
idle workers looked at the queue once a second (supervisor.go), so a second submission
for the branch within about a second superseded the first; its Go client starts in
~50 ms. This command is Python and starts in 0.5-2 s (imports, more on a loaded host:
2.1 s between the two submissions of 19_limit_runs_per_branch under a load of 7), so the
window is 3 s."""


def daemon() -> None:
    """start a long-running daemon (Choreograph's, set up by .env.toml)"""
    env = session.env()
    with reported():
        listen, warning = served_listen(env.listen, bool(env.tokens))
    if warning:
        lines.warn(warning)
    if env.tokens and "CHOREO_DAEMON_TOKENS" not in os.environ:
        named = (f"tg{n}:{token}" for n, token in enumerate(env.tokens, 1))
        os.environ["CHOREO_DAEMON_TOKENS"] = ",".join(named)
    lines.info("listen and serve", addr=listen)
    # Testground's queue keeps one queued task per repo and branch: a new one cancels
    # the queued ones (task.Queue.PushUniqueByBranch). Its workers polled the queue once
    # a second, so a task stayed queued long enough to be superseded by a second one
    # sent right after it; scripts rely on that (19_limit_runs_per_branch).
    cmd_daemon.daemon(
        listen=listen, workers=env.workers, branch_limit=1, branch_settle=BRANCH_SETTLE_S
    )


def healthcheck(
    runner: Annotated[str, typer.Option("--runner", help="runner to check, e.g. local:docker")],
    fix: Annotated[bool, typer.Option("--fix", help="attempt to fix failing checks")] = False,
) -> None:
    """validate/fix the preconditions for the runner to be able to operate properly"""
    try:
        cmd_net.healthcheck(fix=fix, runner=runner)
    except typer.Exit as exit_:
        if exit_.exit_code:
            lines.warn("some healthchecks failed")
    lines.plain(f"finished checking runner {runner}")


def terminate(
    runner: Annotated[str, typer.Option("--runner", help="runner to terminate")] = "",
    builder: Annotated[str, typer.Option("--builder", help="builder to terminate")] = "",
) -> None:
    """terminate all jobs and supporting processes of a runner"""
    if runner and builder:
        lines.plain("cannot accept runner and builder at the same time; please do one at a time")
        raise typer.Exit(1)
    if not runner and not builder:
        lines.plain("specify something to terminate")
        raise typer.Exit(1)
    if builder:
        lines.plain(f"{builder}: nothing to terminate (builds run inside the command asking)")
        return
    cmd_net.terminate(runner=runner, task=None)


def describe(
    plan: Annotated[str, typer.Option("--plan", "-p", help="describe plan with name NAME")],
) -> None:
    """describe a test plan"""
    choreo.describe(plan)


def version() -> None:
    """print version numbers"""
    lines.plain("Testground")
    lines.plain(f"Choreograph {__version__}")


def register(app: typer.Typer) -> None:
    for command in (daemon, healthcheck, terminate, describe, version):
        app.command(command.__name__)(command)
