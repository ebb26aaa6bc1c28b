"""Helper processes of a run's network (the switch, the rootless host): how they start and
how the runner talks to them.

A helper is ``python -m <module>`` with the runner's end of a socketpair passed as a file
descriptor, its output appended to the run's ``switch.log``, and a ``preexec`` that at
least makes it die with the runner. The control channel carries one JSON request per
SOCK_SEQPACKET message and one JSON answer back; an answer with ``error`` raises here.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from choreograph.errors import InputError, RunnerError

REQUEST_TIMEOUT = 60.0


async def spawn_helper(
    module: str,
    args: Sequence[str],
    fds: Sequence[socket.socket],
    log_path: Path | None,
    preexec: Callable[[], None],
) -> asyncio.subprocess.Process:
    """Start ``module`` with ``fds`` inherited (their numbers come first in its argv); the
    parent's copies of ``fds`` are closed."""
    log = log_path.open("ab") if log_path else None
    try:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            module,
            *(str(sock.fileno()) for sock in fds),
            *args,
            pass_fds=tuple(sock.fileno() for sock in fds),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log or asyncio.subprocess.DEVNULL,
            stderr=log or None,
            preexec_fn=preexec,
        )
    finally:
        for sock in fds:
            sock.close()
        if log:
            log.close()


class ControlChannel:
    """Requests to one helper, one at a time. ``name`` says who refused, in errors."""

    def __init__(self, sock: socket.socket, name: str) -> None:
        sock.setblocking(False)
        self.sock: socket.socket | None = sock
        self._name = name
        self._lock = asyncio.Lock()
        self._next_id = 0

    async def request(self, op: str, **fields: Any) -> dict[str, Any]:
        if self.sock is None:
            raise RunnerError(f"the {self._name} is not running")
        loop = asyncio.get_running_loop()
        async with self._lock:
            self._next_id += 1
            payload = json.dumps({"id": self._next_id, "op": op, **fields}).encode()
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    await loop.sock_sendall(self.sock, payload)
                    data = await loop.sock_recv(self.sock, 1 << 22)
            except (OSError, TimeoutError) as exc:
                raise RunnerError(f"the {self._name} did not answer {op}: {exc}") from exc
        if not data:
            raise RunnerError(f"the {self._name} exited; see switch.log in the run folder")
        reply: dict[str, Any] = json.loads(data)
        if "error" in reply:
            kind, _, message = str(reply["error"]).partition(": ")
            if kind == "InputError":
                raise InputError(message)
            raise RunnerError(f"the {self._name} refused {op}: {reply['error']}")
        return {k: v for k, v in reply.items() if k not in ("id", "ok")}

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
