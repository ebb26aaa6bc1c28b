"""The engine's reader of a run's ``run_events`` topic: outcome events published through
the sync service count like the ones printed on stdout (the outcome book deduplicates), an
exiting instance can wait until its last publication is read, and a publication from the
wrong place is refused.

Where the runner can tell instances apart by the address their connections come from
(``Placement.origins``: under ``local:netns`` each instance has its own control address),
an event is accepted only from the instance it names, or, for foreign SDKs that name only
the group, from an instance of that group; anything from an address that is no instance of
the run (another process on the host) is refused with a warning. Without origins (all
instances on loopback) every event is accepted, as Testground does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping

from choreograph.plan.facts import Fact, InstanceEvent
from choreograph.sync_service.endpoint import SyncEndpoint
from choreograph.wire.events import Event, parse_event

log = logging.getLogger("choreograph.engine")


class RunEventsFollower:
    """Follows one run's ``run_events`` in-process; see the module docstring."""

    def __init__(
        self,
        service: SyncEndpoint,
        topic: str,
        origins: Mapping[str, str] | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self._service = service
        self._topic = topic
        self._by_address = {address: key for key, address in (origins or {}).items()}
        self._warn = warn or (lambda problem: log.warning("%s", problem))
        self._consumed = 0
        self._moved = asyncio.Event()
        self.refused = 0

    async def follow(self, decide: Callable[[Fact], None]) -> None:
        async for payload, origin in self._service.subscribe_with_origin(self._topic):
            self._consumed += 1
            self._moved.set()
            event = parse_event(payload)
            if event is None:
                continue
            if problem := self.forged(event, origin):
                self.refused += 1
                self._warn(problem)
                continue
            # Choreograph's SDK names the instance; foreign SDKs name only the group.
            decide(InstanceEvent(key=event.instance, event=event, channel="sync"))

    def forged(self, event: Event, origin: str | None) -> str:
        """Why ``event`` published from ``origin`` must not count ("" when it may)."""
        if not self._by_address or origin is None:
            return ""
        what = f"run_events: a {event.kind} event for {event.instance or event.group or '?'}"
        sender = self._by_address.get(origin)
        if sender is None:
            return f"{what} came from {origin}, which is no instance of this run: ignored"
        if event.instance and event.instance != sender:
            return f"{what} was published by {sender} ({origin}): ignored"
        if not event.instance and event.group and sender.rpartition("/")[0] != event.group:
            return f"{what} was published by {sender} ({origin}), of another group: ignored"
        return ""

    async def wait_caught_up(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                target = await self._service.published_count(self._topic)
                while self._consumed < target:
                    self._moved.clear()
                    await self._moved.wait()
