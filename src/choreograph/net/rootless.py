"""Rootless ``local:netns``: the run's network inside an unprivileged user namespace.

Without root, a process may still create a user namespace where it is uid 0 (where the
kernel allows it), and with it mount and network namespaces of its own: everything
:class:`~choreograph.net.host.RunNetwork` does then works inside, unchanged. So a helper
process (:mod:`choreograph.net._rootless_main`) starts in such namespaces and owns the
run's network; this side is the runner's handle on it, with the same face as
``RunNetwork`` (``plan``, ``apply``, ``statistics``, ``close``).

Instances join the helper's user and mount namespaces before their own network namespace
(their owner needs no privilege for that: :func:`~choreograph.net._enter.enter_host`). The
sync service stays in the host's network namespace: the helper relays the instances'
connections, asking this side for each upstream socket (a socket keeps the namespace it
was created in). Nothing can be left behind: the namespaces die with the helper, which dies
with the runner.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from choreograph.net._enter import become_root_in_new_namespaces, die_with_parent
from choreograph.net.addresses import AddressPlan, plan_from_json
from choreograph.net.helper import ControlChannel, spawn_helper
from choreograph.wire.network import NetworkConfig

HELPER_MODULE = "choreograph.net._rootless_main"


def rootless_problems() -> list[str]:
    """Why this kernel will not give an unprivileged user the namespaces it needs."""
    found = []
    if _read("/proc/sys/kernel/unprivileged_userns_clone", "1") == "0":
        found.append(
            "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone=0)"
        )
    if _read("/proc/sys/user/max_user_namespaces", "1") == "0":
        found.append("user namespaces are disabled (user.max_user_namespaces=0)")
    if _read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "0") == "1":
        found.append(
            "AppArmor restricts unprivileged user namespaces "
            "(kernel.apparmor_restrict_unprivileged_userns=1)"
        )
    if not os.access("/dev/net/tun", os.R_OK | os.W_OK):
        found.append("/dev/net/tun is not readable and writable by this user")
    return found


class RootlessNetwork:
    def __init__(
        self,
        run_id: str,
        hostnames: Sequence[str],
        *,
        subnet: str | None,
        mtu: int,
        shaping: str,
        log_path: Path | None,
        sync_port: int,
    ) -> None:
        self._open = {
            "run_id": run_id,
            "hostnames": list(hostnames),
            "subnet": subnet,
            "mtu": mtu,
            "shaping": shaping,
            "log_path": str(log_path) if log_path else "",
            "sync_port": sync_port,
        }
        self._sync_port = sync_port
        self._log_path = log_path
        self._process: asyncio.subprocess.Process | None = None
        self._control: ControlChannel | None = None
        self._connect: socket.socket | None = None
        self._connector: asyncio.Task[None] | None = None
        self._plan: AddressPlan | None = None

    @property
    def plan(self) -> AddressPlan:
        if self._plan is None:
            raise RuntimeError("the run network is not open")
        return self._plan

    def instance_env(self) -> dict[str, str]:
        """What an instance needs to enter the helper's namespaces first."""
        assert self._process is not None
        pid = self._process.pid
        return {"CHOREO_USERNS": f"/proc/{pid}/ns/user", "CHOREO_MNTNS": f"/proc/{pid}/ns/mnt"}

    async def __aenter__(self) -> RootlessNetwork:
        control, control_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        connect, connect_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._control = ControlChannel(control, "rootless network helper")
        connect.setblocking(False)
        self._connect = connect
        self._process = await spawn_helper(
            HELPER_MODULE, [], [control_theirs, connect_theirs], self._log_path, _start_helper
        )
        self._connector = asyncio.create_task(self._serve_connects())
        try:
            self._plan = plan_from_json((await self._control.request("open", **self._open))["plan"])
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def apply(self, index: int, config: NetworkConfig) -> None:
        await self._channel().request("apply", index=index, config=config.to_json())

    async def ready(self, index: int) -> None:
        """Instances' networks are whole before they start here."""

    async def statistics(self) -> dict[str, Any]:
        stats: dict[str, Any] = (await self._channel().request("stats"))["stats"]
        return stats

    async def close(self) -> None:
        if self._control is not None:
            self._control.close()  # the helper closes the network and exits
        if self._process is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(10):
                    await self._process.wait()
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()
            await self._process.wait()
        if self._connector is not None:
            self._connector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connector
            self._connector = None
        if self._connect is not None:
            self._connect.close()
            self._connect = None

    def _channel(self) -> ControlChannel:
        if self._control is None:
            raise RuntimeError("the rootless network is not open")
        return self._control

    async def _serve_connects(self) -> None:
        """For each byte the helper sends, one socket connected to the sync service."""
        assert self._connect is not None
        loop = asyncio.get_running_loop()
        while await loop.sock_recv(self._connect, 1):
            upstream = socket.socket()
            upstream.setblocking(False)
            try:
                await loop.sock_connect(upstream, ("127.0.0.1", self._sync_port))
                socket.send_fds(self._connect, [b"s"], [upstream.fileno()])
            finally:
                upstream.close()


def _start_helper() -> None:
    die_with_parent()
    become_root_in_new_namespaces()


def _read(path: str, default: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return default
