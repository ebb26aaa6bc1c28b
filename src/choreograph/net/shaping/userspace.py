"""The ``userspace`` shaping backend: every data interface is a TUN, and a switch process
moves packets between them, applying each sender's shape itself. Needs no netem.

Why a separate process rather than a task in the runner: the runner's event loop also
serves the sync service and tees every instance's output, and a packet loop wants a core
to itself — sharing one GIL, a burst of sync traffic would add milliseconds of latency to
every packet in flight, and a saturated data path would slow every barrier. As its own
process the switch gets the second core, keeps sub-millisecond timing, and holds the TUN
file descriptors alone; the uplink TUN dies with it, the instances' TUNs with their
namespaces. The price is a control message per configuration change (~0.1 ms over a local
socket).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from pathlib import Path
from typing import Any

from choreograph.net._enter import die_with_parent
from choreograph.net.addresses import DATA_IFNAME, AddressPlan, InstanceAddress
from choreograph.net.helper import ControlChannel, spawn_helper
from choreograph.wire.network import NetworkConfig

SWITCH_MODULE = "choreograph.net.shaping._switch_main"


class UserspaceBackend:
    name = "userspace"

    def __init__(self) -> None:
        self._process: asyncio.subprocess.Process | None = None
        self._control: ControlChannel | None = None
        self._plan: AddressPlan | None = None

    def problems(self) -> list[str]:
        if not Path("/dev/net/tun").exists():
            return ["/dev/net/tun is missing (load the tun module: modprobe tun)"]
        return []

    async def start(
        self, plan: AddressPlan, mtu: int, log_path: Path | None = None, *, later: bool = False
    ) -> None:
        self._plan = plan
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._control = ControlChannel(ours, "userspace switch")
        args = [str(plan.data_subnet), "--run", plan.run_id, "--tag", plan.tag]
        self._process = await spawn_helper(SWITCH_MODULE, args, [theirs], log_path, die_with_parent)
        await self._control.request("uplink", ifname=plan.uplink_tun)
        if not later:
            await self._control.request("attach", ports=[_port(h) for h in plan.instances])

    async def attach(self, index: int, ifname: str) -> None:
        if self._plan is None:
            raise RuntimeError("the userspace backend is not started")
        port = _port(self._plan.instances[index], ifname)
        await self._channel().request("attach", ports=[port])

    async def configure(self, index: int, config: NetworkConfig) -> None:
        await self._channel().request("configure", index=index, config=config.to_json())

    async def set_address(self, index: int, ip: ipaddress.IPv4Address) -> None:
        await self._channel().request("address", index=index, ip=str(ip))

    async def statistics(self) -> dict[str, Any]:
        return await self._channel().request("stats")

    async def close(self) -> None:
        if self._control is not None:
            self._control.close()  # the switch exits when its control socket closes
        if self._process is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await self._process.wait()
            if self._process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    self._process.kill()
                await self._process.wait()
            self._process = None

    def _channel(self) -> ControlChannel:
        if self._control is None:
            raise RuntimeError("the userspace backend is not started")
        return self._control


def _port(host: InstanceAddress, ifname: str = DATA_IFNAME) -> dict[str, Any]:
    return {"index": host.index, "netns": host.netns, "ifname": ifname, "ip": str(host.data_ip)}
