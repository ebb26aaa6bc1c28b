"""The shaping backend interface: one behaviour, several implementations.

A backend owns each instance's **data interface** (it creates them: TUNs for
``userspace``, veths for ``netem``) and makes traffic on it follow the instance's
:class:`~choreograph.wire.network.NetworkConfig`: every LinkShape field, per-subnet rules,
routing policy, enable, address. Addresses and routes *inside* the namespaces are the
:class:`~choreograph.net.netns.HostNetwork`'s job, so every backend gets the same
kernel-side view.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, Protocol

from choreograph.net.addresses import AddressPlan
from choreograph.wire.network import NetworkConfig

BACKENDS = {
    "userspace": "choreograph.net.shaping.userspace:UserspaceBackend",
    "netem": "choreograph.net.shaping.netem:NetemBackend",
}


class ShapingBackend(Protocol):
    name: str

    def problems(self) -> list[str]:
        """What prevents this backend from working on this host (empty when it can)."""
        ...

    async def start(
        self, plan: AddressPlan, mtu: int, log_path: Path | None = None, *, later: bool = False
    ) -> None:
        """Create every instance's data interface (``DATA_IFNAME``, inside its namespace)
        and this host's uplink (``plan.uplink_tun``), unshaped and enabled; a backend's
        helper processes write their diagnostics to ``log_path``. ``later``: only the
        uplink now; each instance comes with :meth:`attach` once its namespace exists (a
        container's, made by its engine when it starts)."""
        ...

    async def attach(self, index: int, ifname: str) -> None:
        """Create instance ``index``'s data interface, named ``ifname``, in its namespace
        (``plan.instances[index].netns``, which exists by now)."""
        ...

    async def configure(self, index: int, config: NetworkConfig) -> None:
        """Make instance ``index``'s egress follow ``config`` from now on; packets already
        in flight keep their fate and connections are not reset."""
        ...

    async def set_address(self, index: int, ip: ipaddress.IPv4Address) -> None:
        """Instance ``index`` now answers at ``ip`` on the data network."""
        ...

    async def statistics(self) -> dict[str, Any]:
        """Counters for debugging and benchmarks (per instance: packets in/out/dropped)."""
        ...

    async def close(self) -> None:
        """Stop shaping; idempotent. Data interfaces inside instance namespaces may stay
        until their namespace is removed (that removes them in one batch)."""
        ...


def load_backend(name: str) -> ShapingBackend:
    import importlib

    from choreograph.errors import InputError

    if name not in BACKENDS:
        raise InputError(
            f'[runners."local:netns"] shaping = {name!r}: expected one of {sorted(BACKENDS)}'
        )
    module, _, attr = BACKENDS[name].partition(":")
    backend: ShapingBackend = getattr(importlib.import_module(module), attr)()
    return backend
