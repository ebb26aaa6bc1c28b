"""The rootless host process: ``python -m choreograph.net._rootless_main CONTROL_FD
CONNECT_FD``, started as uid 0 of a new user namespace with its own mount and network
namespaces (see :mod:`choreograph.net.rootless`).

It gives itself a private ``/run`` (so ``ip netns`` can name namespaces), opens the
:class:`~choreograph.net.host.RunNetwork` there, and relays the instances' sync-service
connections: an instance connects to the control gateway here; for each connection this
process asks the runner, over ``CONNECT_FD``, for a TCP socket already connected to the
sync service in the host's network namespace, and copies bytes both ways.

Control wire (SOCK_SEQPACKET, JSON): ``open {run_id, hostnames, subnet, mtu, shaping,
log_path, sync_port}`` → ``{plan}``; ``apply {index, config}``; ``stats``; the process
closes the network and exits when the socket closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import socket
import sys
from pathlib import Path
from typing import Any

from choreograph.net._enter import die_with_parent
from choreograph.net.addresses import plan_to_json
from choreograph.net.host import RunNetwork
from choreograph.net.rtnl import Rtnl
from choreograph.wire.network import NetworkConfig

MS_REC, MS_PRIVATE = 0x4000, 1 << 18
_libc = ctypes.CDLL(None, use_errno=True)


def private_run_dir() -> None:
    """A private, writable ``/run``: where ``ip netns`` and the run lock live."""
    for args in (
        (None, b"/", None, MS_REC | MS_PRIVATE, None),
        (b"tmpfs", b"/run", b"tmpfs", 0, None),
    ):
        if _libc.mount(*args) != 0:
            raise OSError(ctypes.get_errno(), f"mount {args[1]!r} failed")


class Relay:
    """Carries instances' sync connections to the sync service outside this namespace."""

    def __init__(self, connect: socket.socket) -> None:
        self._connect = connect
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    async def _upstream(self) -> socket.socket:
        async with self._lock:  # one request, one answer, in order

            def ask() -> socket.socket:
                self._connect.sendall(b"c")
                _, fds, _, _ = socket.recv_fds(self._connect, 1, 1)
                return socket.socket(fileno=fds[0])

            return await asyncio.to_thread(ask)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(sock=await self._upstream())
        except OSError:
            writer.close()
            return
        async with asyncio.TaskGroup() as tg:
            tg.create_task(_pump(reader, up_writer))
            tg.create_task(_pump(up_reader, writer))


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            writer.close()


async def serve(control: socket.socket, connect: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    control.setblocking(False)
    network: RunNetwork | None = None
    server: asyncio.Server | None = None
    try:
        while data := await loop.sock_recv(control, 1 << 20):
            request = json.loads(data)
            try:
                reply: dict[str, Any] = {"id": request["id"], "ok": True}
                if request["op"] == "open":
                    network = RunNetwork(
                        request["run_id"],
                        request["hostnames"],
                        subnet=request["subnet"],
                        mtu=request["mtu"],
                        shaping=request["shaping"],
                        log_path=Path(request["log_path"]) if request["log_path"] else None,
                        sweep=False,
                    )
                    await network.__aenter__()
                    gateway = str(network.plan.gateway)
                    server = await asyncio.start_server(
                        Relay(connect).serve, gateway, request["sync_port"]
                    )
                    reply["plan"] = plan_to_json(network.plan)
                elif request["op"] == "apply" and network is not None:
                    await network.apply(
                        request["index"], NetworkConfig.from_json(request["config"])
                    )
                elif request["op"] == "stats" and network is not None:
                    reply["stats"] = await network.statistics()
                else:
                    raise ValueError(f"cannot {request['op']} now")
            except Exception as exc:  # told to the runner, which raises it
                reply = {"id": request["id"], "error": f"{type(exc).__name__}: {exc}"}
            await loop.sock_sendall(control, json.dumps(reply).encode())
    finally:
        if server is not None:
            server.close()
        if network is not None:
            await network.close()


def main() -> None:
    die_with_parent()
    private_run_dir()
    with Rtnl() as nl:
        nl.set_link("lo", up=True)
    control = socket.socket(fileno=int(sys.argv[1]))
    connect = socket.socket(fileno=int(sys.argv[2]))
    asyncio.run(serve(control, connect))


if __name__ == "__main__":
    main()
