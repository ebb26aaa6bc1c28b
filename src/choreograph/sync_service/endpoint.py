"""What the engine needs of a run's sync service, wherever it runs: in this process
(:class:`~choreograph.sync_service.SyncService`) or in a cluster, followed over the
network (``cluster:k8s``). One face, so the engine's outcome reading, progress pulse and
end-of-run warnings are the same code for both."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol


class SyncEndpoint(Protocol):
    @property
    def address(self) -> tuple[str, int]:
        """Where instances reach the service."""
        ...

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Listen (in-process) or connect (remote); the address instances use."""
        ...

    async def stop(self) -> None: ...

    def subscribe_with_origin(self, topic: str) -> AsyncIterator[tuple[Any, str | None]]:
        """Every payload of ``topic`` from the first, with the publisher's address where
        the service can tell it (None where it cannot)."""
        ...

    async def published_count(self, topic: str) -> int:
        """How many payloads ``topic`` holds now."""
        ...

    def waits(self, limit: int = 5) -> list[tuple[str, int, int, int]]:
        """The barriers waited on: ``(state, signalled, target, waiting)``."""
        ...

    def refusals(self) -> list[str]:
        """Warning lines about refused publishes, for the end of the run."""
        ...
