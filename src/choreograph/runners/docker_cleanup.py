"""What ``local:docker`` leaves in the Docker engine, and removing it: a run's own objects
at its end, dead runs' (``choreo healthcheck --fix``, the next run's start), everything
(``choreo terminate --runner local:docker``). Objects are found by their run label."""

from __future__ import annotations

from choreograph.containers import client, control
from choreograph.net import cleanup
from choreograph.net.addresses import run_tag

KEEP_LABEL = "choreograph.keep"
"""On containers a run keeps (``keep_containers``): no sweep of dead runs removes them."""


async def remove_run(run_id: str, network: str, *, keep: bool) -> None:
    """Remove the run's containers, then its network. Kept containers (``keep_containers``)
    are taken off the network, which goes, and stay, labelled as kept: sweeps of dead runs
    leave them to ``docker rm`` or ``choreo terminate --runner local:docker``."""
    run = f"{client.RUN_LABEL}={run_id}"
    if not keep:
        await client.remove_labelled(run)
        return
    kept = await client.labelled("container", run)
    for cid in kept:
        await client.docker("network", "disconnect", "--force", network, cid, check=False)
    await control.remove(network)


async def dead_runs() -> dict[str, int]:
    """Run id → how many containers and networks it left, for runs whose owner is gone
    (a crashed ``choreo``): a run is alive while its network lock is held (net/cleanup)."""
    found: dict[str, int] = {}
    for kind in ("container", "network"):
        for item in await client.inspect(kind, await client.labelled(kind, client.RUN_LABEL)):
            labels = (item.get("Config") or {}).get("Labels") or item.get("Labels") or {}
            run = labels.get(client.RUN_LABEL)
            if labels.get(KEEP_LABEL) == "true":
                continue
            if run and not cleanup.is_live(run_tag(run)):
                found[run] = found.get(run, 0) + 1
    return found


async def sweep_dead_runs() -> int:
    """Remove what dead runs left in Docker; how many objects went."""
    removed = 0
    for run in sorted(await dead_runs()):
        label = f"{client.RUN_LABEL}={run}"
        kept = set(await client.labelled("container", f"{KEEP_LABEL}=true"))
        doomed = [c for c in await client.labelled("container", label) if c not in kept]
        if doomed:
            await client.docker("rm", "-f", "-v", *doomed, check=False)
        networks = await client.labelled("network", label)
        for net in networks:  # kept containers still on it are taken off first
            for cid in kept:
                await client.docker("network", "disconnect", "--force", net, cid, check=False)
        if networks:
            await client.docker("network", "rm", *networks, check=False)
        removed += len(doomed) + len(networks)
    return removed


async def terminate_all() -> int:
    """Remove every Choreograph container and network, live runs' included (Testground's
    ``terminate``: stop everything this runner started); how many objects went."""
    return await client.remove_labelled(client.RUN_LABEL)
