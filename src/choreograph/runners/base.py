"""The Runner interface: start a run's instances somewhere and report facts about them.

Runners never decide outcomes and never stop on their own judgement: the engine owns
the run, sets ``stop`` (timeout, interrupt, fail-fast) and reads the facts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from choreograph.plan.facts import Fact
from choreograph.plan.spec import Artifact, RunSpec


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
