"""The Builder interface: turn a plan (and a group's build settings) into an Artifact."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from choreograph.plan.spec import Artifact, BuildRequest


@dataclass(frozen=True)
class BuildContext:
    builds_dir: Path
    """Root of the content-addressed build cache."""
    log: Callable[[str], None]
    """Progress lines (a long install shows what it is doing)."""


class Builder(Protocol):
    id: str

    def problems(self) -> list[str]:
        """What this host lacks for this builder (empty when it can build)."""
        ...

    async def build(self, request: BuildRequest, ctx: BuildContext) -> Artifact: ...
