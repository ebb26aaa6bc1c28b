"""How every command turns Choreograph's exceptions into a message and an exit status,
written once: 2 for bad input (plan, composition, flags, run ids), 3 for a failed build,
4 when the host cannot do what was asked (a port in use, a full disk). Also the one
place resolved specs are checked and their warnings shown before anything is built."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import typer

from choreograph.availability import check_config_keys
from choreograph.cli import render
from choreograph.config import Settings, load_settings
from choreograph.errors import BuildError, ChoreographError
from choreograph.exits import EXIT_BUILD, EXIT_HOST, EXIT_INPUT, host_problem
from choreograph.plan.spec import RunSpec

__all__ = ["EXIT_BUILD", "EXIT_HOST", "EXIT_INPUT", "host_problem", "reported", "resolve_specs"]


@contextlib.contextmanager
def reported(*also: type[Exception]) -> Iterator[None]:
    """Exit 4 on a host problem (see :func:`host_problem`), 3 on a BuildError, 2 on any
    other ChoreographError (or one of ``also``), after printing its message; anything
    else propagates."""
    caught: tuple[type[Exception], ...] = (ChoreographError, *also)
    handled: tuple[type[Exception], ...] = (*caught, OSError)
    try:
        yield
    except handled as exc:
        if host_problem(exc):
            render.error(str(exc))
            raise typer.Exit(EXIT_HOST) from None
        if isinstance(exc, BuildError):
            render.error(f"build failed: {exc}")
            raise typer.Exit(EXIT_BUILD) from None
        if isinstance(exc, caught):
            render.error(str(exc))
            raise typer.Exit(EXIT_INPUT) from None
        raise


def resolve_specs(resolve: Callable[[Settings], list[RunSpec]]) -> tuple[Settings, list[RunSpec]]:
    """Settings and the resolved specs, their build and run settings checked, with every
    spec's warnings printed."""
    settings = load_settings()
    specs = [check_config_keys(spec) for spec in resolve(settings)]
    for spec in specs:
        for warning in spec.warnings:
            render.warn(warning)
    return settings, specs
