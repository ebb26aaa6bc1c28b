"""An instance's log on Kubernetes (stdout and stderr: the cluster keeps them as one), into
``<group>/<index>/run.out`` with each event line reported, as every runner does with an
instance's output.

Why followed: read only once the instance ended, ``run.out`` stayed empty while it ran, its
events (messages, metrics, a ``success`` printed long before the end) reached the run only
at its end, and a ``choreo`` killed mid-run kept nothing of the instances still running.
So the log of a running instance is followed as the container writes it (the API server's
``follow`` stream, read by a thread of its own because the official client blocks; at
most ``follow_logs`` at once, since each holds a connection to the API server and, through
it, to the node's kubelet). When the instance has ended, the stream ends after the last
byte; if it broke instead (API server restarted, connection cut) or was never opened,
the whole log is read once and only what the stream had not delivered is added
(:data:`TRUSTED_END_S` says how a stream's end is told from a cut).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from choreograph.cluster.kube import Kube
from choreograph.wire.events import Event, parse_line

TAIL_BYTES = 1 << 16
"""What is kept of a log's end in memory: the exit's message quotes its last lines."""
END_WAIT_S = 10.0
"""How long a followed log may take to end after its container did (the kubelet flushes
and closes the stream within a second here); past it the log is read whole."""
CHUNK = 1 << 14
LONGEST_LINE = 1 << 20
"""Bytes of one unfinished line kept to parse once it ends; an event line is far shorter,
and a megabyte of output without a newline is not one (nor re-joined chunk by chunk)."""
TRUSTED_END_S = 5.0
"""A stream that ended by itself is taken as the whole log when it ended at most this long
before the runner saw the container end (the kubelet ends it when the container exits;
the watch may tell the exit a little later). One that ended earlier was cut: the log is
then read whole, and what the stream had not delivered is added."""


class PodLog:
    """The log of one pod's instance container: :meth:`follow` while it runs, then
    :meth:`finish` once it ended."""

    def __init__(
        self,
        kube: Kube,
        namespace: str,
        pod: str,
        container: str,
        out: Path,
        report: Callable[[Event], None],
    ) -> None:
        self._kube, self._namespace, self._pod, self._container = kube, namespace, pod, container
        self._out = out
        self._report = report
        self._written = 0
        """Bytes of the log in ``run.out`` (the stream's or the whole read's)."""
        self._partial = b""
        """The end of what was written that is not a whole line yet (not parsed yet)."""
        self._tail = bytearray()
        self._ended: asyncio.Event | None = None
        self._clean = False
        self._ended_at = 0.0
        self._response: Any = None
        self._closing = False
        self._on_end: Callable[[], None] = lambda: None

    @property
    def followed(self) -> bool:
        return self._ended is not None

    def follow(self, ended: Callable[[], None] = lambda: None) -> None:
        """Stream the log into ``run.out`` from now on, in a thread (call from the loop);
        ``ended()`` is called in the loop once the stream has ended, however it did."""
        loop = asyncio.get_running_loop()
        self._on_end = ended
        self._ended = asyncio.Event()

        def pump() -> None:
            clean = False
            try:
                response = self._kube.core.read_namespaced_pod_log(
                    self._pod,
                    self._namespace,
                    container=self._container,
                    follow=True,
                    _preload_content=False,
                )
                self._response = response
                for chunk in response.stream(CHUNK, decode_content=False):
                    loop.call_soon_threadsafe(self._streamed, chunk)
                clean = not self._closing
            except Exception:  # the whole log is read at the end instead
                clean = False
            finally:
                with contextlib.suppress(RuntimeError):  # the loop is gone: nothing waits
                    loop.call_soon_threadsafe(self._end, clean)

        threading.Thread(target=pump, name=f"log {self._pod}", daemon=True).start()

    def _end(self, clean: bool) -> None:
        self._clean, self._ended_at = clean, time.monotonic()
        if self._ended is not None:
            self._ended.set()
        self._on_end()

    def _streamed(self, data: bytes) -> None:
        """A chunk of the followed stream, unless the log is being read whole instead
        (then what was not written yet comes from that read: nothing twice)."""
        if not self._closing:
            self._take(data)

    def _take(self, data: bytes) -> None:
        """Append ``data`` (the log's next bytes) to ``run.out``; report its whole lines."""
        if not data:
            return
        with self._out.open("ab") as out:
            out.write(data)
        self._written += len(data)
        self._tail += data
        if len(self._tail) > TAIL_BYTES:
            del self._tail[: len(self._tail) - TAIL_BYTES]
        *lines, self._partial = (self._partial + data).split(b"\n")
        if len(self._partial) > LONGEST_LINE:
            self._partial = b""
        for line in lines:
            if (event := parse_line(line.decode(errors="replace"))) is not None:
                self._report(event)

    async def finish(self) -> bytes:
        """Once the instance ended: the rest of its log into ``run.out``; the log's last
        :data:`TAIL_BYTES`."""
        whole = True
        if self._ended is not None:
            exited = time.monotonic()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(END_WAIT_S):
                    await self._ended.wait()
            whole = not (self._clean and self._ended_at >= exited - TRUSTED_END_S)
        if whole:
            self.close()
            await self._read_whole()
        if self._partial:  # a last line without its newline
            if (event := parse_line(self._partial.decode(errors="replace"))) is not None:
                self._report(event)
            self._partial = b""
        return bytes(self._tail)

    async def _read_whole(self) -> None:
        try:
            response = await self._kube.call(
                self._kube.core.read_namespaced_pod_log,
                self._pod,
                self._namespace,
                container=self._container,
                _preload_content=False,
            )
            data: bytes = response.data
        except Exception as exc:
            message = f"cluster:k8s: could not read the log of pod {self._pod}: {exc}\n"
            self._take(message.encode())
            return
        # The stream delivered the log's first bytes already; the kubelet serves the same
        # file from its start, so what is new is what lies past them.
        self._take(data[self._written :])

    def close(self) -> None:
        """Stop following (the thread's read wakes at once)."""
        self._closing = True
        if self._response is not None:
            with contextlib.suppress(Exception):
                self._response.shutdown()
