"""The ``netem`` shaping backend: where it would go, and an honest refusal until it exists.

On a kernel with ``sch_netem`` the same behaviour can come from the kernel: a veth per
instance on a bridge in the switch namespace, ``htb`` (bandwidth) with a ``netem`` leaf
(latency, jitter, loss, corruption, duplication, reordering) per link, one htb class per
rule subnet, and nftables for filters. That is cheaper per packet than the userspace
switch. It is not written yet: the kernels this project is developed on have no netem, so
it could not be tested. :meth:`NetemBackend.problems` says which of the two stops it.
"""

from __future__ import annotations

import gzip
import ipaddress
import os
from pathlib import Path
from typing import Any

from choreograph.errors import RunnerError
from choreograph.net.addresses import AddressPlan
from choreograph.wire.network import NetworkConfig


def netem_support() -> str | None:
    """Why this kernel cannot run netem, or None when it can."""
    release = os.uname().release
    if Path("/sys/module/sch_netem").exists():
        return None
    modules = Path(f"/lib/modules/{release}")
    if list(modules.glob("kernel/net/sched/sch_netem.ko*")):
        return None
    try:
        if "sch_netem" in (modules / "modules.builtin").read_text():
            return None
    except OSError:
        pass
    try:
        with gzip.open("/proc/config.gz", "rt") as config:
            for line in config:
                if line.startswith("CONFIG_NET_SCH_NETEM="):
                    return None if line.strip()[-1] in "ym" else "CONFIG_NET_SCH_NETEM is off"
        return "the kernel was built without CONFIG_NET_SCH_NETEM"
    except OSError:
        return "no sch_netem module is loaded or installed"


class NetemBackend:
    name = "netem"

    def problems(self) -> list[str]:
        missing = netem_support()
        if missing:
            return [
                f"the netem shaping backend is not available on this kernel ({missing}); "
                'use shaping = "userspace"'
            ]
        return ['the netem shaping backend is not implemented yet; use shaping = "userspace"']

    async def start(
        self, plan: AddressPlan, mtu: int, log_path: Path | None = None, *, later: bool = False
    ) -> None:
        raise RunnerError("; ".join(self.problems()))

    async def attach(self, index: int, ifname: str) -> None:
        raise RunnerError("; ".join(self.problems()))

    async def configure(self, index: int, config: NetworkConfig) -> None:
        raise RunnerError("; ".join(self.problems()))

    async def set_address(self, index: int, ip: ipaddress.IPv4Address) -> None:
        raise RunnerError("; ".join(self.problems()))

    async def statistics(self) -> dict[str, Any]:
        return {}

    async def close(self) -> None:
        pass
