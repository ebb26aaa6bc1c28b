"""The control network of one ``local:docker`` run: how instances reach the sync service
(and ``additional_hosts`` containers), and nothing else.

A Docker bridge network, because an instance must reach the sync service from its first
instruction, and only the engine can give a container an interface before its process
starts (the data interface comes later, from :class:`~choreograph.net.host.RunNetwork`,
and the sidecar signals ``network-initialized`` once it is up). Like Testground's
``testground-control`` it is the container's ``eth0``; unlike it, it is per run and
``--internal`` (no route out of the host), and instances' bridge ports are *isolated*
once they start, so they cannot talk to each other around the shaped data network, yet
still reach the gateway (this host: the sync service listens there alone) and supporting
containers (``additional_hosts``, whose ports stay unisolated). Its subnet and gateway are
the run's address plan's control subnet, so addresses never clash with other runs.
"""

from __future__ import annotations

from choreograph.containers.client import PURPOSE_LABEL, RUN_LABEL, docker, inspect
from choreograph.errors import InputError, RunnerError


def network_name(tag: str) -> str:
    return f"choreo-{tag}-control"


async def create(run_id: str, tag: str, subnet: str, gateway: str, bridge: str) -> str:
    """Make the run's control network (bridge device ``bridge``); its name."""
    name = network_name(tag)
    await docker(
        "network",
        "create",
        "--driver",
        "bridge",
        "--internal",
        "--subnet",
        subnet,
        "--gateway",
        gateway,
        "--opt",
        f"com.docker.network.bridge.name={bridge}",
        "--opt",
        "com.docker.network.bridge.enable_icc=true",
        "--label",
        f"{RUN_LABEL}={run_id}",
        "--label",
        f"{PURPOSE_LABEL}=network",
        name,
        error=RunnerError,
    )
    return name


async def remove(name: str) -> None:
    await docker("network", "rm", name, check=False)


async def connect_hosts(network: str, hosts: list[str], addresses: list[str]) -> None:
    """Attach each running ``additional_hosts`` container to the run's control network,
    where instances resolve it by name (Docker's DNS) and reach it directly, at the
    address given for it (instances hold fixed addresses from the bottom of the network:
    left to Docker, a host would take the first free one, an instance's)."""
    found = {c.get("Name", "").lstrip("/"): c for c in await inspect("container", hosts)}
    for host, address in zip(hosts, addresses, strict=True):
        info = found.get(host)
        if info is None or not info.get("State", {}).get("Running"):
            raise InputError(
                f'[runners."local:docker"] additional_hosts: no running container named '
                f"{host!r}; start it first (e.g. docker run -d --name {host} IMAGE)"
            )
        if network not in info.get("NetworkSettings", {}).get("Networks", {}):
            await docker("network", "connect", "--ip", address, network, host, error=RunnerError)


async def disconnect_hosts(network: str, hosts: list[str]) -> None:
    for host in hosts:
        await docker("network", "disconnect", "--force", network, host, check=False)
