"""The Runner interface: start a run's instances somewhere and report facts about them.

Runners never decide outcomes and never stop on their own judgement: the engine owns
the run, sets ``stop`` (timeout, interrupt, fail-fast) and reads the facts.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from choreograph.plan.facts import Fact
from choreograph.plan.spec import Artifact, RunSpec
from choreograph.sync_service.endpoint import SyncEndpoint


@dataclass(frozen=True)
class Placement:
    """What the engine must know of where instances live before it starts the sync service.

    The service listens only where the run's instances (and this host) reach it, never on
    every address: loopback for instances on this host, a gateway the runner made for
    instances behind one.
    """

    sync_host: str = "127.0.0.1"
    origins: Mapping[str, str] = field(default_factory=dict)
    """Instance key → the address its sync connections come from, where the runner can tell
    instances apart (empty otherwise): lets the engine refuse an outcome one instance
    publishes for another, or one from outside the run."""
    sync: SyncEndpoint | None = None
    """A sync service the runner started itself (``cluster:k8s`` runs it in the cluster):
    the engine follows it instead of starting its own."""


@dataclass
class RunContext:
    run_id: str
    spec: RunSpec
    artifacts: dict[str, Artifact]
    """Per group id."""
    run_dir: Path
    instance_dir: Callable[[str], Path]
    temp_dir: Callable[[str], Path]
    sync_host: str
    sync_port: int
    start_time: datetime
    report: Callable[[Fact], None]
    stop: asyncio.Event
    stop_grace_s: float = 3.0


class Runner(Protocol):
    id: str

    def problems(self) -> list[str]:
        """What prevents this runner from working on this host (empty when it can run)."""
        ...

    async def run(self, ctx: RunContext) -> None:
        """Run every instance to its end, or until ``ctx.stop`` is set; leave nothing behind."""
        ...


def placement(
    runner: Runner, run_id: str, spec: RunSpec, run_dir: Path
) -> contextlib.AbstractAsyncContextManager[Placement]:
    """The runner's ``placed(run_id, spec, run_dir)`` context (it may set up the run's
    network there, so the service can bind to it), or instances on this host's loopback."""
    placed = getattr(runner, "placed", None)
    if placed is None:
        return _on_loopback()
    context: contextlib.AbstractAsyncContextManager[Placement] = placed(run_id, spec, run_dir)
    return context


@contextlib.asynccontextmanager
async def _on_loopback() -> AsyncIterator[Placement]:
    yield Placement()
