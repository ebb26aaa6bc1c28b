"""How every command turns Choreograph's exceptions into a message and an exit status,
written once: 2 for bad input (plan, composition, flags, run ids), 3 for a failed build.
Also the one place resolved specs' warnings are shown before anything is built."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import typer

from choreograph.cli import render
from choreograph.config import Settings, load_settings
from choreograph.errors import BuildError, ChoreographError
from choreograph.plan.spec import RunSpec


@contextlib.contextmanager
def reported(*also: type[Exception]) -> Iterator[None]:
    """Exit 3 on a BuildError, 2 on any other ChoreographError (or one of ``also``),
    after printing its message; anything else propagates."""
    caught: tuple[type[Exception], ...] = (ChoreographError, *also)
    try:
        yield
    except BuildError as exc:
        render.error(f"build failed: {exc}")
        raise typer.Exit(3) from None
    except caught as exc:
        render.error(str(exc))
        raise typer.Exit(2) from None


def resolve_specs(resolve: Callable[[Settings], list[RunSpec]]) -> tuple[Settings, list[RunSpec]]:
    """Settings and the resolved specs, with every spec's warnings printed."""
    settings = load_settings()
    specs = resolve(settings)
    for spec in specs:
        for warning in spec.warnings:
            render.warn(warning)
    return settings, specs
