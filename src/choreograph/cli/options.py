"""Options several commands share, declared once so each flag means one thing everywhere."""

from __future__ import annotations

from typing import Annotated

import typer

JsonOption = Annotated[
    bool,
    typer.Option(
        "--json", help="Print the result as one JSON document on stdout (progress: stderr)."
    ),
]
