import asyncio
from collections.abc import AsyncIterator

import pytest

from choreograph.sdk import RunEnv
from choreograph.sync_service import SyncService

SCOPE = ("run-1", "plan", "case")
"""(run, plan, case) of the ``runenv`` fixture (the test modules scope their clients alike)."""


@pytest.fixture
async def address() -> AsyncIterator[tuple[str, int]]:
    """A real sync service on a free port, for the duration of one test."""
    service = SyncService()
    yield await service.start()
    async with asyncio.timeout(5):  # a service that cannot stop is a failure, not a hang
        await service.stop()


@pytest.fixture
def runenv(address: tuple[str, int]) -> RunEnv:
    """An instance of run ``SCOPE`` whose sync service is ``address``."""
    run, plan, case = SCOPE
    return RunEnv.from_env(
        {
            "TEST_PLAN": plan,
            "TEST_CASE": case,
            "TEST_RUN": run,
            "TEST_INSTANCE_COUNT": "1",
            "SYNC_SERVICE_HOST": address[0],
            "SYNC_SERVICE_PORT": str(address[1]),
        }
    )
