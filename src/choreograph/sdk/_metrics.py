"""Metrics an instance records: results (``runenv.R()``) and diagnostics (``runenv.D()``).

Each observation is one JSON line in ``results.out`` or ``diagnostics.out`` in the
instance's outputs folder::

    {"run":"…","group":"g","instance":"g/0","name":"latency","type":"timer","unit":"s",
     "ts":1732386533123456789,"value":0.0123}

``ts`` is Unix nanoseconds, as in sdk-go's files (whose records, ``{"ts","type","name",
"measures"}``, Choreograph's reader accepts too). A counter's ``value`` is its running total.

Recording must be cheap enough for a hot loop (≥ 200,000 records/s): a record is a
``(prefix, ts, value)`` tuple appended to a list; the JSON text is made when the buffer is
written, every ``FLUSH_RECORDS`` records or once a second, at :meth:`Metrics.flush`, when
``invoke`` records the outcome (a crash included) and at interpreter exit.
"""

from __future__ import annotations

import atexit
import functools
import inspect
import json
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
RecorderT = TypeVar("RecorderT", bound="_Recorder")

FLUSH_RECORDS = 16384
_FLUSH_NS = 1_000_000_000
_TIMER_SCALE = {"s": 1e-9, "ms": 1e-6, "us": 1e-3, "ns": 1.0}
_WRITERS: weakref.WeakSet[_Writer] = weakref.WeakSet()


class _Writer:
    """One output file: a buffer of records and the code that turns them into lines."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.buffer: list[tuple[str, int, float]] = []
        self.last_flush = time.time_ns()
        self._lock = threading.Lock()
        _WRITERS.add(self)

    def add(self, prefix: str, value: float) -> None:
        ts = time.time_ns()
        buffer = self.buffer
        buffer.append((prefix, ts, value))
        if len(buffer) >= FLUSH_RECORDS or ts - self.last_flush > _FLUSH_NS:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            buffer = self.buffer
            n = len(buffer)
            if not n:
                return
            # Appends from other threads land after index n: nothing is lost or doubled.
            chunk = buffer[:n]
            del buffer[:n]
            self.last_flush = time.time_ns()
            text = "".join([f'{p},"ts":{ts},"value":{_number(v)}}}\n' for p, ts, v in chunk])
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(text)


def _number(value: float) -> str:
    text = repr(value)
    return text if text[-1].isdigit() else "null"  # nan, inf: not JSON


def flush_all() -> None:
    """Write every buffered record of this process (``invoke`` and ``atexit`` call it)."""
    for writer in list(_WRITERS):
        writer.flush()


atexit.register(flush_all)


class Metrics:
    """The recorders of one output file: what ``runenv.R()`` and ``runenv.D()`` return.

    ::

        r = runenv.R()
        r.point("throughput", 1234.5, unit="ops/s")   # one value
        hits = r.counter("hits")                      # get a recorder once, use it often
        hits.inc()
        r.gauge("peers").set(12)
        r.histogram("payload", unit="B").observe(512)
        with r.timer("handshake").time():             # seconds by default
            do_handshake()

    Recorders are kept by name: asking twice for ``counter("hits")`` gives the same
    counter; asking for another kind under a name already used raises ``ValueError``.
    """

    def __init__(self, path: Path, run: str, group: str, instance: str) -> None:
        self.path = path
        self._writer = _Writer(path)
        self._head = (
            '{"run":' + json.dumps(run) + ',"group":' + json.dumps(group)
            + ',"instance":' + json.dumps(instance)
        )  # fmt: skip
        self._recorders: dict[str, _Recorder] = {}

    def prefix(self, name: str, kind: str, unit: str) -> str:
        """The constant start of every line this metric writes (JSON-escaped once)."""
        tail = f',"name":{json.dumps(name)},"type":"{kind}","unit":{json.dumps(unit)}'
        return self._head + tail

    def point(self, name: str, value: float, unit: str = "") -> None:
        """Record one value of ``name`` (sdk-go's ``RecordPoint``)."""
        self._writer.add(self.prefix(name, "point", unit), value)

    def counter(self, name: str, unit: str = "") -> Counter:
        """A running total; each ``inc`` records the new total."""
        return self._get(name, Counter, unit)

    def gauge(self, name: str, unit: str = "") -> Gauge:
        """A level that goes up and down; each ``set`` records it."""
        return self._get(name, Gauge, unit)

    def histogram(self, name: str, unit: str = "") -> Histogram:
        """A distribution; each ``observe`` records one sample."""
        return self._get(name, Histogram, unit)

    def timer(self, name: str, unit: str = "s") -> Timer:
        """Durations, in ``unit`` (``s``, ``ms``, ``us`` or ``ns``): a context manager
        (``with timer.time():`` or ``with timer:``) and a decorator (``@timer``)."""
        if unit not in _TIMER_SCALE:
            raise ValueError(f"timer unit {unit!r}: expected one of {sorted(_TIMER_SCALE)}")
        return self._get(name, Timer, unit)

    def flush(self) -> None:
        """Write buffered records now (they are also written at exit)."""
        self._writer.flush()

    def _get(self, name: str, kind: type[RecorderT], unit: str) -> RecorderT:
        recorder = self._recorders.get(name)
        if recorder is None:
            recorder = kind(self._writer, self.prefix(name, kind.KIND, unit), unit)
            self._recorders[name] = recorder
        if not isinstance(recorder, kind):
            raise ValueError(f"metric {name!r} is a {recorder.KIND}, not a {kind.KIND}")
        return recorder


class _Recorder:
    KIND = ""

    def __init__(self, writer: _Writer, prefix: str, unit: str) -> None:
        self._add = functools.partial(writer.add, prefix)
        self.unit = unit


class Counter(_Recorder):
    """A running total (``inc``); records the total after each increment."""

    KIND = "counter"

    def __init__(self, writer: _Writer, prefix: str, unit: str) -> None:
        super().__init__(writer, prefix, unit)
        self.count: float = 0

    def inc(self, n: float = 1) -> None:
        self.count += n
        self._add(self.count)


class Gauge(_Recorder):
    """A level (``set``); records each value set."""

    KIND = "gauge"

    def __init__(self, writer: _Writer, prefix: str, unit: str) -> None:
        super().__init__(writer, prefix, unit)
        self.value: float = 0

    def set(self, value: float) -> None:
        self.value = value
        self._add(value)


class Histogram(_Recorder):
    """Samples of a distribution (``observe``)."""

    KIND = "histogram"

    def observe(self, value: float) -> None:
        self._add(value)


class Timer(_Recorder):
    """Durations: ``with timer.time():``, ``with timer:``, ``@timer`` or ``observe(d)``."""

    KIND = "timer"

    def __init__(self, writer: _Writer, prefix: str, unit: str) -> None:
        super().__init__(writer, prefix, unit)
        self._scale = _TIMER_SCALE[unit]
        self._local = threading.local()

    def observe(self, duration: float) -> None:
        """Record a duration already measured, in the timer's unit."""
        self._add(duration)

    def time(self) -> _Timing:
        """A context manager that records how long its block took."""
        return _Timing(self)

    def __enter__(self) -> Timer:
        stack: list[int] | None = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        stack.append(time.perf_counter_ns())
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        started: int = self._local.stack.pop()
        self._add((time.perf_counter_ns() - started) * self._scale)

    def __call__(self, fn: F) -> F:
        """Decorate ``fn`` (plain or ``async def``) to time every call."""
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def timed_async(*args: Any, **kwargs: Any) -> Any:
                with self.time():
                    return await fn(*args, **kwargs)

            return timed_async  # type: ignore[return-value]

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.time():
                return fn(*args, **kwargs)

        return timed  # type: ignore[return-value]


class _Timing:
    __slots__ = ("_started", "_timer")

    def __init__(self, timer: Timer) -> None:
        self._timer = timer
        self._started = 0

    def __enter__(self) -> _Timing:
        self._started = time.perf_counter_ns()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        timer = self._timer
        timer._add((time.perf_counter_ns() - self._started) * timer._scale)
