"""Builders driven through their interface, against real tools and a private build cache."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from pathlib import Path

import pytest

from choreograph.builders.base import BuildContext, Builder
from choreograph.plan.spec import Artifact, BuildRequest


class Builds:
    """Builds plans with one builder into ``root``; remembers every log line."""

    def __init__(self, builder: Builder, root: Path) -> None:
        self.builder = builder
        self.root = root
        self.log: list[str] = []

    async def __call__(self, plan_dir: Path, config: dict[str, object], **more: object) -> Artifact:
        request = BuildRequest(
            plan=str(more.pop("plan", "tiny")),
            plan_dir=plan_dir,
            builder=self.builder.id,
            groups=("single",),
            config=config,
            **more,  # type: ignore[arg-type]
        )
        return await self.builder.build(request, BuildContext(self.root, self.log.append))

    def entries(self) -> list[str]:
        """What the builder's cache folder holds: one name per build, finished or not."""
        folder = self.root / self.builder.id.replace(":", "-")
        return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


async def gone(pid: int, timeout: float = 3) -> bool:
    """Whether ``pid`` is dead (a zombie counts as dead) within ``timeout``: a SIGKILL
    is delivered asynchronously."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            while _alive(pid):
                await asyncio.sleep(0.01)
    return not _alive(pid)


async def wait_for_file(path: Path, timeout: float = 20) -> str:
    """The text of ``path`` once something has been written to it."""
    async with asyncio.timeout(timeout):
        while not (path.is_file() and (text := path.read_text().strip())):
            await asyncio.sleep(0.02)
    return text


@pytest.fixture
def node() -> None:
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{', '.join(missing)} not installed: .ci/run must install it")
        pytest.skip(f"{', '.join(missing)} not installed")
