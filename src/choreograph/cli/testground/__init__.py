"""The ``testground`` command: Testground's CLI (its commands, flags, short flags,
defaults and the output lines scripts parse) over Choreograph's commands, a second face
of ``cli/`` rather than a fork of it (docs/testground.md).

One module per command group (``cmd_plan``, ``cmd_build``, ``cmd_run``, ``cmd_tasks``,
``cmd_host``); ``config`` reads ``.env.toml``, ``session`` settles the home and whether a
daemon is used, ``composition`` and ``runs`` turn Testground's requests into
``choreo run composition``'s, ``lines`` prints the lines scripts read.
"""

from __future__ import annotations

import re
import sys
from typing import Annotated

import typer

from choreograph.cli.reporting import reported
from choreograph.cli.testground import cmd_host, cmd_tasks, session
from choreograph.cli.testground.cmd_build import build_app
from choreograph.cli.testground.cmd_plan import plan_app
from choreograph.cli.testground.cmd_run import run_app

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Testground's command line, running on Choreograph.",
)
app.add_typer(plan_app, name="plan")
app.add_typer(build_app, name="build")
app.add_typer(run_app, name="run")
cmd_host.register(app)
cmd_tasks.register(app)


@app.callback()
def _global_options(
    endpoint: Annotated[
        str | None, typer.Option("--endpoint", help="the daemon's URI (overrides .env.toml)")
    ] = None,
    verbose: Annotated[bool, typer.Option("-v", help="accepted (verbose output)")] = False,
    very_verbose: Annotated[bool, typer.Option("--vv", help="accepted (more so)")] = False,
) -> None:
    with reported():
        session.prepare(endpoint)


_GO_LONG_FLAG = re.compile(r"-[A-Za-z][A-Za-z0-9-]+(=.*)?")


def go_style(argv: list[str]) -> list[str]:
    """Go's flag package takes ``-plan=x`` and ``-tp k=v`` for ``--plan``/``--tp``;
    click reads a single dash as short flags, so such words get their second dash."""
    return [f"-{arg}" if _GO_LONG_FLAG.fullmatch(arg) else arg for arg in argv]


def main() -> None:
    app(args=go_style(sys.argv[1:]), prog_name="testground")
