"""``choreo images prepare``: build local stand-ins of the images the Docker builders and
runner default to, for hosts that reach no image registry (containers/images.py says how
each is made and when one is kept)."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

import typer
from rich.text import Text

from choreograph.cli import render
from choreograph.cli.reporting import reported
from choreograph.containers import images

images_app = typer.Typer(
    no_args_is_help=True, help="Local images for the Docker builders and runner."
)

_KINDS = ", ".join(f"{kind} ({name})" for kind, name in images.DEFAULT_IMAGES.items())


def prepare(
    only: Annotated[
        list[str] | None,
        typer.Option("--only", metavar="KIND", help=f"Prepare only KIND (repeatable): {_KINDS}."),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Rebuild, and replace images not made by choreo under those names."
        ),
    ] = False,
    alias: Annotated[
        list[str] | None,
        typer.Option(
            "--as",
            metavar="NAME=KIND",
            help="Also tag the stand-in of KIND as NAME (repeatable), for plans whose "
            "Dockerfile names another image, e.g. --as golang:alpine=go.",
        ),
    ] = None,
) -> None:
    """Build local stand-ins of every default image (Debian via debootstrap; the host's
    Go, Node, Python packages and busybox), tagged with the names the builders use.
    Images already up to date are kept, so a second run takes about a second."""
    started = time.monotonic()
    with reported():
        aliases = images.parse_aliases(alias or [])
        kinds = images.check_kinds(only) if only else None
        done = asyncio.run(images.prepare(kinds, force=force, also=aliases, log=_progress))
    for image in done:
        render.console.print(Text(image.describe(), style=_STYLE[image.outcome]), soft_wrap=True)
    built = sum(1 for image in done if image.outcome == "built")
    render.console.print(
        f"{built} built, {len(done)} names checked, in {time.monotonic() - started:.1f} s"
    )


_STYLE = {"built": "green", "up to date": "", "skipped": "yellow", "tagged": "green"}


def _progress(line: str) -> None:
    render.console.print(Text(line, style="dim"), soft_wrap=True)


def register(app: typer.Typer) -> None:
    images_app.command("prepare")(prepare)
    app.add_typer(images_app, name="images")
