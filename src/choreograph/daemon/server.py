"""``choreo daemon`` as a function: check the listen address against the tokens, open
the store, recover from a previous daemon's death, and serve the API with uvicorn in this
process, the scheduler (and retention, when asked) running beside it on the same loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from choreograph.config import Settings
from choreograph.daemon.app import Daemon, create_app
from choreograph.daemon.auth import check_listen, load_tokens
from choreograph.daemon.queue import Scheduler
from choreograph.daemon.retention import prune
from choreograph.daemon.tasks import TaskStore
from choreograph.daemon.uploads import MIB
from choreograph.errors import InputError

log = logging.getLogger("choreograph.daemon")

PRUNE_EVERY_S = 600.0


@dataclass(frozen=True)
class DaemonConfig:
    listen: str = "127.0.0.1:8042"
    workers: int = 1
    tokens_file: Path | None = None
    branch_limit: int = 0
    max_upload_mib: float = 200.0
    keep_days: float | None = None
    keep_gib: float | None = None
    branch_settle_s: float = 0.0


def parse_listen(listen: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) → (host, port)."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise InputError(f"--listen {listen!r}: expected HOST:PORT, e.g. 127.0.0.1:8042")
    return host.strip("[]"), int(port)


def build(settings: Settings, config: DaemonConfig) -> tuple[Daemon, str, int]:
    """The daemon's state and where it listens; InputError for a refused configuration."""
    host, port = parse_listen(config.listen)
    tokens = load_tokens(config.tokens_file)
    check_listen(host, tokens)
    root = settings.home / "daemon"
    store = TaskStore(root / "tasks.sqlite")
    scheduler = Scheduler(
        store,
        settings,
        root / "tasks",
        config.workers,
        config.branch_limit,
        config.branch_settle_s,
    )
    (root / "tasks").mkdir(parents=True, exist_ok=True)
    daemon = Daemon(settings, store, scheduler, tokens, int(config.max_upload_mib * MIB))
    return daemon, host, port


def serve(settings: Settings, config: DaemonConfig) -> None:
    """Run until SIGINT/SIGTERM; tasks still running then end ``canceled``."""
    daemon, host, port = build(settings, config)
    canceled = daemon.scheduler.recover()
    if canceled:
        log.warning("canceled %d task(s) a previous daemon left running", len(canceled))

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with asyncio.TaskGroup() as tg:
            work = [tg.create_task(daemon.scheduler.serve())]
            if config.keep_days is not None or config.keep_gib is not None:
                work.append(tg.create_task(_retention(daemon, config)))
            try:
                yield
            finally:
                for task in work:
                    task.cancel()

    app = create_app(daemon, lifespan)
    uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=5)
    ).run()


async def _retention(daemon: Daemon, config: DaemonConfig) -> None:
    while True:
        deleted = await asyncio.to_thread(
            prune,
            daemon.store,
            daemon.settings,
            daemon.tasks_dir,
            config.keep_days,
            config.keep_gib,
        )
        if deleted:
            log.info("retention: deleted %d task(s)", len(deleted))
        await asyncio.sleep(PRUNE_EVERY_S)
