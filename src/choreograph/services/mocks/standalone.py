"""Mock collectors outside any run: the harness face of ``[[services]] kind =
"mock-collector"`` (a benchmark controller, a notebook or a test starts satellites, points
its own clients at them, and reads their counters). Exported as
:class:`choreograph.api.MockServices`; the collector processes, their settings and their
counters files are the same ones a run's ``[[services]]`` entry starts.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import tempfile
import threading
from collections.abc import Coroutine, Mapping
from os import PathLike as _OsPathLike
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from choreograph.errors import HostError, InputError
from choreograph.plan.service import SERVICE_NAME_PATTERN
from choreograph.plan.spec import ServiceSpec
from choreograph.results.metrics import SERVICE_METRICS_FILE
from choreograph.services import RunningService, env_prefix, free_port, mocks
from choreograph.services.mocks.counters import COUNTERS
from choreograph.services.mocks.modes import behaviour

_T = TypeVar("_T")
PathLike = str | _OsPathLike[str]


class MockServices:
    """Mock collectors on this host outside any run, for a harness or a test: ``instances``
    collector processes in ``mode`` (those ``[[services]] kind = "mock-collector"`` starts),
    each on a free port of ``host``, all stopped at the end of the ``with`` block, even when
    it raises::

        from choreograph.api import MockServices  # re-exported here

        with MockServices("typical", instances=2) as sats:
            print(sats.addresses)      # ['127.0.0.1:41223', '127.0.0.1:41224']
            env = sats.env()           # CHOREO_SERVICE_COLLECTOR_ADDRS, _ADDR, _HOST, _PORT
            ...                        # export traces to them
            sats.counters()            # live: as of each collector's last write (every 1 s)
        totals = sats.counters()       # after the block: final, e.g. {addr: {"spans": 12, …}}

    ``latency`` (in seconds, e.g. ``{"distribution": "constant", "mean": 0.01}``),
    ``error_rate``, ``drop_rate``, ``seed`` and ``protocol`` (``"http"``, or ``"grpc"``
    for OTLP/gRPC with the ``grpc`` extra) are those of the composition's entry;
    ``name`` is the ``<NAME>`` of the variables. Logs and metrics files go to
    ``folder/services/<name>/<k>/``; without ``folder``, to a temporary folder removed at
    the end (after the final counters are read). InputError for settings that make no
    sense, HostError when a collector does not start or is not ready in ``timeout`` s,
    or for ``protocol="grpc"`` without the ``grpc`` extra.
    """

    def __init__(
        self,
        mode: str = "typical",
        instances: int = 1,
        *,
        name: str = "collector",
        host: str = "127.0.0.1",
        latency: Mapping[str, Any] | None = None,
        error_rate: float = 0.0,
        drop_rate: float = 0.0,
        seed: int | None = None,
        protocol: str = "http",
        folder: PathLike | None = None,
        timeout: float = 30.0,
    ) -> None:
        settings: dict[str, Any] = {"mode": mode, "error_rate": error_rate, "drop_rate": drop_rate}
        if latency is not None:
            settings["latency"] = dict(latency)
        if seed is not None:
            settings["seed"] = seed
        if protocol not in mocks.PROTOCOLS:
            raise InputError(
                f"MockServices: protocol {protocol!r}: expected one of {', '.join(mocks.PROTOCOLS)}"
            )
        if protocol != "http":
            settings["protocol"] = protocol
        try:
            behaviour(settings)
        except (ValueError, TypeError) as exc:
            raise InputError(f"MockServices: {exc}") from None
        if not re.fullmatch(SERVICE_NAME_PATTERN, name) or instances < 1:
            raise InputError(
                f"MockServices: expected a name of letters, digits, _ and - and instances "
                f"≥ 1, found name {name!r}, instances {instances}"
            )
        self._spec = ServiceSpec(name, (), "tcp", timeout_s=timeout, instances=instances,
                                 kind=mocks.MOCK_COLLECTOR, mock=settings)  # fmt: skip
        self._host = host
        self._folder = None if folder is None else Path(folder)
        self._own_folder: Path | None = None
        self._running: list[RunningService] = []
        self._final: dict[str, dict[str, int]] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def addresses(self) -> list[str]:
        """``host:port`` of each collector, in order."""
        return [f"{s.host}:{s.port}" for s in self._running]

    def env(self) -> dict[str, str]:
        """The variables a plan reads: ``CHOREO_SERVICE_<NAME>_HOST``, ``_PORT``, ``_ADDR``
        (the first collector) and ``_ADDRS`` (all, comma-separated)."""
        if not self._running:
            return {}
        prefix = env_prefix(self._spec.name)
        return {**self._running[0].env_vars(), f"{prefix}_ADDRS": ",".join(self.addresses)}

    def counters(self) -> dict[str, dict[str, int]]:
        """Address → the collector's totals (``requests``, ``dropped``, ``failed``,
        ``bytes``, ``spans``): live, as of its last write; after the block, final."""
        if self._final is not None:
            return {addr: dict(totals) for addr, totals in self._final.items()}
        return {f"{s.host}:{s.port}": _read_counters(s.log.parent) for s in self._running}

    def __enter__(self) -> MockServices:
        if self._loop is not None:
            raise InputError("MockServices: already started; use a new one")
        if mocks.uses_grpc(self._spec) and (problem := mocks.grpc_problem()):
            raise HostError(f"MockServices: {problem}")
        if self._folder is None:
            self._own_folder = Path(tempfile.mkdtemp(prefix="choreo-mocks-"))
        # The collectors are forked by this thread's loop, so it must live as long as they
        # do: they get PR_SET_PDEATHSIG, which fires when the thread that forked them ends.
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="choreo-mock-services", daemon=True
        )
        self._thread.start()
        try:
            self._call(self._start(self._folder or self._own_folder or Path()))
        except BaseException:
            self._close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close()

    def _call(self, coro: Coroutine[Any, Any, _T]) -> _T:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    async def _start(self, folder: Path) -> None:
        (members,) = mocks.service_sets(self._spec)
        for index in range(self._spec.instances):
            spec, log = mocks.collector_spec(self._spec, members, index, index, folder)
            service = RunningService(spec, self._host, free_port(self._host), log)
            self._running.append(service)
            if problem := await service.start():
                raise HostError(problem)
        ready = await asyncio.gather(*(s.wait_ready() for s in self._running))
        if problems := [p for p in ready if p]:
            raise HostError("\n".join(problems))

    async def _stop(self) -> None:
        await asyncio.gather(*(s.stop() for s in self._running), return_exceptions=True)

    def _close(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or loop.is_closed():
            return
        try:
            self._call(self._stop())
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()
            self._final = self.counters()
            if self._own_folder is not None:
                shutil.rmtree(self._own_folder, ignore_errors=True)


def _read_counters(folder: Path) -> dict[str, int]:
    """The last value of each counter in a collector's metrics file (0 before any)."""
    totals = dict.fromkeys(COUNTERS, 0)
    metrics = folder / SERVICE_METRICS_FILE
    if not metrics.exists():
        return totals
    for line in metrics.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a write still under way
        name = str(record.get("name", "")).removeprefix("collector_")
        if record.get("type") == "counter" and name in totals:
            totals[name] = int(record["value"])
    return totals
