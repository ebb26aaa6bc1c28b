"""``choreo healthcheck [--fix]``: is this host ready, and did dead runs leave anything?

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
) -> None:
    """Check that runners can run here and that no dead run left anything behind."""
    checks = asyncio.run(run_checks(fix))
    for check in checks:
        mark = "fixed" if check.fixed else "ok" if check.ok else "FAIL"
        render.console.print(f"{mark:>5}  {check.name}: {check.detail}", soft_wrap=True)
    if not all(check.ok for check in checks):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("healthcheck")(healthcheck)
