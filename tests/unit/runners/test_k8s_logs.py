"""An instance's log on Kubernetes reaches ``run.out`` while it runs (followed), whole and
only once: a stream that ends with the container is the log; one cut short, or never
opened, is completed from one read of the whole log."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from choreograph.runners import k8s_logs
from choreograph.runners.k8s_logs import PodLog
from choreograph.wire.events import Event

LOG = (
    b"starting\n"
    + json.dumps({"event": {"message_event": {"message": "half way"}}}).encode()
    + b"\n"
    + b"x" * 5000
    + b"\n"
    + json.dumps({"event": {"success_event": {"group": "g"}}}).encode()
    + b"\nlast words"
)


class _Stream:
    def __init__(self, chunks: list[bytes], cut: bool, gate: threading.Event | None) -> None:
        self._chunks, self._cut, self._gate = chunks, cut, gate
        self.shut = threading.Event()

    def stream(self, amt: int, decode_content: bool = False) -> Iterator[bytes]:
        for index, chunk in enumerate(self._chunks):
            if index == 1 and self._gate is not None:
                self._gate.wait(10)  # the test looks at run.out while the pod "runs"
            yield chunk
        if self._cut:
            raise ConnectionResetError("cut")

    def shutdown(self) -> None:
        self.shut.set()


class _Whole:
    def __init__(self, data: bytes) -> None:
        self.data = data


class _Core:
    def __init__(self, chunks: list[bytes], cut: bool = False, gate: Any = None) -> None:
        self.stream = _Stream(chunks, cut, gate)
        self.whole_reads = 0

    def read_namespaced_pod_log(self, pod: str, namespace: str, **kw: Any) -> Any:
        assert kw["container"] == "instance" and kw["_preload_content"] is False
        if kw.get("follow"):
            return self.stream
        self.whole_reads += 1
        return _Whole(LOG)


class _Kube:
    def __init__(self, core: _Core) -> None:
        self.core = core

    async def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(fn, *args, **kwargs)


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def _log(tmp_path: Path, core: _Core) -> tuple[PodLog, list[Event]]:
    events: list[Event] = []
    log = PodLog(_Kube(core), "ns", "p", "instance", tmp_path / "run.out", events.append)  # type: ignore[arg-type]
    return log, events


def _kinds(events: list[Event]) -> list[str]:
    return [e.kind for e in events]


def test_a_followed_log_is_written_while_the_instance_runs(tmp_path: Path) -> None:
    gate = threading.Event()
    core = _Core(_chunks(LOG, 700), gate=gate)
    log, events = _log(tmp_path, core)

    async def scenario() -> bytes:
        log.follow()
        for _ in range(200):  # the first chunk arrives while the rest is held back
            await asyncio.sleep(0.01)
            if (tmp_path / "run.out").exists():
                break
        assert (tmp_path / "run.out").read_bytes() == LOG[:700]
        assert _kinds(events) == ["message"]  # reported as it came, not at the end
        gate.set()
        return await log.finish()

    tail = asyncio.run(scenario())
    assert (tmp_path / "run.out").read_bytes() == LOG
    assert core.whole_reads == 0
    assert tail == LOG
    assert _kinds(events) == ["message", "success"]


def test_a_cut_stream_is_completed_from_one_whole_read(tmp_path: Path) -> None:
    core = _Core(_chunks(LOG, 700)[:3], cut=True)
    log, events = _log(tmp_path, core)

    ends: list[bool] = []

    async def scenario() -> bytes:
        log.follow(ended=lambda: ends.append(True))
        return await log.finish()

    asyncio.run(scenario())
    assert ends == [True]  # the runner's slot for followed logs is free again
    assert (tmp_path / "run.out").read_bytes() == LOG  # nothing twice, nothing missing
    assert core.whole_reads == 1
    assert _kinds(events) == ["message", "success"]


def test_a_stream_that_ended_long_before_the_exit_was_cut(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(k8s_logs, "TRUSTED_END_S", 0.05)
    core = _Core(_chunks(LOG, 700)[:2])  # ends cleanly, but after 1,400 bytes
    log, _ = _log(tmp_path, core)

    async def scenario() -> None:
        log.follow()
        await asyncio.sleep(0.5)  # the exit is seen well after the stream's end
        await log.finish()

    asyncio.run(scenario())
    assert (tmp_path / "run.out").read_bytes() == LOG
    assert core.whole_reads == 1


def test_an_unfollowed_log_is_read_whole_at_the_end(tmp_path: Path) -> None:
    core = _Core([])
    log, events = _log(tmp_path, core)
    tail = asyncio.run(log.finish())
    assert (tmp_path / "run.out").read_bytes() == LOG
    assert tail == LOG
    assert _kinds(events) == ["message", "success"]


def test_the_tail_kept_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(k8s_logs, "TAIL_BYTES", 100)
    log, _ = _log(tmp_path, _Core([]))
    assert asyncio.run(log.finish()) == LOG[-100:]
