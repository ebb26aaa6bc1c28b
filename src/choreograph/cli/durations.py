"""Typer options that take a duration, each parsed by
:func:`choreograph.durations.parse_duration`, so ``--timeout 30s``, ``--older-than 7d``
and ``--poll 250ms`` read the same way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

from choreograph.durations import parse_duration
from choreograph.errors import InputError

METAVAR = "DURATION"


def parser(flag: str) -> Callable[[str | float], float]:
    """A typer ``parser=`` for ``flag``: a bad value is a usage error (exit 2)."""

    def parse(value: str | float) -> float:
        try:
            return parse_duration(value, flag)
        except InputError as exc:
            raise typer.BadParameter(str(exc)) from None

    return parse


def option(flag: str, help: str, **more: Any) -> Any:
    """``typer.Option(flag)`` taking a duration (30s, 10m, 7d; plain numbers are seconds)."""
    return typer.Option(flag, parser=parser(flag), metavar=METAVAR, help=help, **more)
