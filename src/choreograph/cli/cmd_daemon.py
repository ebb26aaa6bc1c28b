"""``choreo daemon``: serve the task queue and its JSON API (see docs/daemon.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from choreograph.cli import durations
from choreograph.cli.reporting import reported
from choreograph.config import load_settings


def daemon(
    listen: Annotated[
        str, typer.Option("--listen", help="HOST:PORT to serve on; beyond loopback needs tokens.")
    ] = "127.0.0.1:8042",
    workers: Annotated[int, typer.Option("--workers", min=1, help="Tasks run at once.")] = 1,
    tokens_file: Annotated[
        Path | None,
        typer.Option(
            "--tokens-file", help="File of 'name token' lines (or CHOREO_DAEMON_TOKENS=name:tok)."
        ),
    ] = None,
    branch_limit: Annotated[
        int,
        typer.Option(
            "--branch-limit",
            min=0,
            help="At most N queued tasks per branch; a newer one supersedes the oldest.",
        ),
    ] = 0,
    branch_settle: Annotated[
        float,
        durations.option(
            "--branch-settle",
            help="Hold tasks on a branch this long before starting one (a newer one"
            " can supersede it meanwhile): 1s.",
        ),
    ] = 0.0,
    max_upload_mib: Annotated[
        float, typer.Option("--max-upload-mib", help="Largest request (uploads), MiB.")
    ] = 200.0,
    keep_days: Annotated[
        float | None, typer.Option("--keep-days", help="Delete ended tasks older than this.")
    ] = None,
    keep_gib: Annotated[
        float | None,
        typer.Option("--keep-gib", help="Delete the oldest ended tasks beyond this much disk."),
    ] = None,
) -> None:
    """Serve a task queue: runs submitted with `choreo --endpoint URL run ...` (or the
    JSON API) are queued in SQLite and run here, one engine for both."""
    import logging

    from choreograph.daemon.server import DaemonConfig, serve

    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(name)s: %(message)s")
    for chatty in ("websockets", "choreograph.sync_service"):  # per run, not per task
        logging.getLogger(chatty).setLevel(logging.WARNING)
    config = DaemonConfig(
        listen,
        workers,
        tokens_file,
        branch_limit,
        max_upload_mib,
        keep_days,
        keep_gib,
        branch_settle,
    )
    with reported():
        settings = load_settings()
        serve(settings, config)


def register(app: typer.Typer) -> None:
    app.command("daemon")(daemon)
