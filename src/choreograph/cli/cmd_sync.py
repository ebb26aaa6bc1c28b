"""``choreo sync-service``: the sync service on its own, for plans started by hand or by other
tools. It listens on loopback unless told otherwise, and beyond loopback only with a token:
whoever reaches it can publish outcomes and release barriers."""

from __future__ import annotations

from typing import Annotated

import typer

from choreograph.cli import render
from choreograph.cli.reporting import reported
from choreograph.sync_service.auth import TOKEN_ENV, listen_problem
from choreograph.sync_service.budget import DEFAULT_HISTORY_BUDGET_BYTES
from choreograph.sync_service.server import MIB, serve_standalone


def sync_service(
    host: Annotated[
        str, typer.Option(help="Address to listen on; beyond loopback a token is required.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 5050,
    token: Annotated[
        str | None,
        typer.Option(
            envvar=TOKEN_ENV,
            show_envvar=True,
            help="Token clients must send (Authorization: Bearer, or ?token=); prefer the"
            " environment variable, since a flag shows in the process list.",
        ),
    ] = None,
    history_budget_mib: Annotated[
        int, typer.Option(help="Most memory the stored history may take, in MiB.")
    ] = DEFAULT_HISTORY_BUDGET_BYTES // MIB,
) -> None:
    """Run the sync service standalone (plans started by hand, or by other tools)."""
    token = token or None
    problem = listen_problem(host, token)
    if problem:
        render.error(problem)
        raise typer.Exit(2)
    needs = " (clients must send its token)" if token else ""
    render.console.print(f"sync service listening on {host}:{port}{needs}")
    with reported():  # a port in use, an address not on this host
        serve_standalone(host, port, token, history_budget_mib)


def register(app: typer.Typer) -> None:
    app.command("sync-service")(sync_service)
