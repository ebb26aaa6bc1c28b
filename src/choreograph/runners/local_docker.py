"""Runner ``local:docker``: one container per instance, from its group's image, shaped
exactly as ``local:netns`` shapes its hosts.

Each container is a host: its own network namespace and hostname, the run's control
network as ``eth0`` (a per-run Docker bridge, see :mod:`choreograph.containers.control`)
and, once it runs, the run's data network as ``eth1`` — the same
:class:`~choreograph.net.host.RunNetwork`, switch and link model as ``local:netns``, given
the container's namespace instead of making one (Testground names them so too: control
``eth0``, data ``eth1``). The sidecar signals ``network-initialized`` for an instance once
its ``eth1`` is up, so every ``LinkShape`` field, rule, routing policy and address change
behaves the same under both runners.

An instance is supervised as a ``docker start --attach`` process: the supervisor tees its
output, reads its events and gets the container's exit status as for any other instance.
Stopping (timeout, interrupt, fail-fast) stops the containers themselves; everything
carries the run's label and is removed at the end (``keep_containers`` keeps the
containers), by ``choreo healthcheck --fix`` after a crash, or ``choreo terminate``.

Run config (``[runners."local:docker"]``), Testground's keys: ``keep_containers``,
``log_level`` (``LOG_LEVEL`` in each container), ``ulimits`` (default
``["nofile=1048576:1048576"]``, or this host's hard limit if lower), ``exposed_ports``
(``{name = "port"}``: exposed, and ``NAME_PORT`` in the environment),
``additional_hosts`` (running containers instances reach by name),
``outcomes_collection_timeout``, ``no_start``, ``background``; ours:
``subnet``, ``mtu``, ``shaping``, ``sample_interval`` as for ``local:netns``, and
``start_concurrency`` (containers created at once, default 8). Per group,
``[groups.resources] memory``/``cpu`` become the container's limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from choreograph.containers import client, control, instances
from choreograph.containers.instances import InstanceContainer
from choreograph.errors import RunnerError
from choreograph.net.addresses import hostnames
from choreograph.net.host import RunNetwork
from choreograph.net.netns import run_ip
from choreograph.net.shaping.base import load_backend
from choreograph.net.sidecar import Sidecar
from choreograph.plan.facts import RunnerNote
from choreograph.plan.spec import RunSpec
from choreograph.runners import cgroups
from choreograph.runners.base import Placement, RunContext
from choreograph.runners.containment import RunContainment
from choreograph.runners.docker_cleanup import KEEP_LABEL, remove_run, sweep_dead_runs
from choreograph.runners.docker_config import CONFIG_KEYS, instance_limits, parse_config
from choreograph.runners.environment import instance_env, instance_slots, required_image
from choreograph.runners.local_netns import gateway_placement, tell_instance
from choreograph.runners.resources import ResourceSampler
from choreograph.runners.supervise import Launch, Running, Supervisor
from choreograph.runners.sync_alias import TESTGROUND_SYNC_ALIAS, alias_names, parse_alias

DATA_IFNAME = "eth1"
CONTROL_IFNAME = "eth0"
_, TESTGROUND_SYNC_PORT = parse_alias(TESTGROUND_SYNC_ALIAS)
ADOPT_POLL_S = 0.02
ENGINE_POLL_S = 2.0


class LocalDockerRunner:
    id = "local:docker"
    config_keys = CONFIG_KEYS
    published_outcomes_only = True
    """As Testground's local:docker: a success counts once published on ``run_events``."""
    preferred_sync_port = TESTGROUND_SYNC_PORT
    """The sync service listens on the run's own control gateway, so Testground's port is
    free there unless something holds it on every address; then any port does, and only
    SDKs that ignore ``SYNC_SERVICE_PORT`` (Testground's Rust crate) cannot connect."""

    def __init__(self) -> None:
        self._placed: tuple[RunNetwork, str] | None = None

    def configured(self) -> bool:
        """Whether this host has a Docker engine that answers. One without Docker, or with
        its engine stopped, is not using ``local:docker``: ``choreo healthcheck`` (every
        runner) says so without failing, as for ``cluster:k8s`` without a kubeconfig;
        ``--runner local:docker`` still fails on it, and a run is refused with the reason."""
        return not client.problems()

    def problems(self) -> list[str]:
        found = client.problems()
        if os.geteuid() != 0:
            found.append(
                "local:docker needs root to give containers their data network "
                "(run as root, e.g. sudo choreo run …)"
            )
        return found + load_backend("userspace").problems()

    @contextlib.asynccontextmanager
    async def placed(self, run_id: str, spec: RunSpec, run_dir: Path) -> AsyncIterator[Placement]:
        """The run's data and control networks come first, so the sync service listens on
        the control network's gateway alone, and each instance's control address (fixed
        here) identifies its connections."""
        async with self._networks(run_id, spec, run_dir) as (network, name):
            self._placed = (network, name)
            try:
                yield gateway_placement(spec, network.plan)
            finally:
                self._placed = None

    async def run(self, ctx: RunContext) -> None:
        config = parse_config(ctx.spec)
        if self._placed is not None:
            await _DockerRun(ctx, config, *self._placed).run()
            return
        async with self._networks(ctx.run_id, ctx.spec, ctx.run_dir) as (network, name):
            await _DockerRun(ctx, config, network, name).run()

    @contextlib.asynccontextmanager
    async def _networks(
        self, run_id: str, spec: RunSpec, run_dir: Path
    ) -> AsyncIterator[tuple[RunNetwork, str]]:
        config = parse_config(spec)
        names = hostnames([(g.id, g.instances) for g in spec.groups])
        network = RunNetwork(
            run_id,
            names,
            subnet=config["subnet"],
            mtu=config["mtu"],
            shaping=config["shaping"],
            log_path=run_dir / "switch.log",
            adopted=True,
            data_ifname=DATA_IFNAME,
        )
        async with network:
            plan = network.plan
            # A dead run's containers hold addresses and names: sweep them first.
            await sweep_dead_runs()
            name = await control.create(
                run_id, plan.tag, str(plan.control_subnet), str(plan.gateway), plan.gateway_link
            )
            try:
                hosts = config["additional_hosts"]
                top = plan.control_subnet.broadcast_address
                if len(hosts) + len(plan.instances) + 2 >= plan.control_subnet.num_addresses:
                    raise RunnerError(f"the control network {plan.control_subnet} is full")
                addresses = [str(top - 1 - i) for i in range(len(hosts))]
                await control.connect_hosts(name, hosts, addresses)
                yield network, name
            finally:
                with contextlib.suppress(Exception):
                    await control.disconnect_hosts(name, config["additional_hosts"])
                await remove_run(run_id, name, keep=config["keep_containers"])


class _DockerRun:
    """One run's containers, from creation to removal."""

    def __init__(
        self, ctx: RunContext, config: dict[str, Any], network: RunNetwork, control_net: str
    ) -> None:
        self.ctx = ctx
        self.config = config
        self.network = network
        self.control_net = control_net
        self.slots = list(instance_slots(ctx.spec))
        self.ids: dict[str, str] = {}
        self.pids: dict[str, int] = {}
        self.cells: dict[str, cgroups.Cell | None] = {}

    async def run(self) -> None:
        ctx, config = self.ctx, self.config
        containers = [self._container(i) for i in range(len(self.slots))]
        try:
            self.ids = await instances.create_all(
                containers, config["start_concurrency"], self._created
            )
            if config["no_start"]:
                _note(ctx, f"{len(self.ids)} containers created and not started (no_start)")
                return
            await self._supervise()
        finally:
            if not config["keep_containers"]:
                await instances.remove(list(self.ids.values()))

    def _container(self, index: int) -> InstanceContainer:
        ctx, slot = self.ctx, self.slots[index]
        host = self.network.plan.instances[index]
        artifact = ctx.artifacts[slot.group]
        image = required_image(artifact, slot.group, "local:docker")
        gateway = str(self.network.plan.gateway)
        alias_hosts = alias_names(artifact.sync_alias, slot.group, ctx.sync_port, gateway)
        return InstanceContainer(
            key=slot.key,
            name=instances.container_name(self.network.plan.tag, slot.key),
            image=image,
            command=artifact.argv,
            hostname=host.hostname,
            env=self._env(index),
            outputs=str(ctx.instance_dir(slot.key)),
            temp=str(ctx.temp_dir(slot.key)),
            network=self.control_net,
            control_ip=str(host.control_ip),
            labels={
                **instances.instance_labels(ctx.run_id, slot.key),
                **({KEEP_LABEL: "true"} if self.config["keep_containers"] else {}),
            },
            ulimits=self.config["ulimits"],
            exposed=tuple(self.config["exposed_ports"].values()),
            # Testground's name for the sync service: SDKs that dial it find the gateway.
            extra_hosts=tuple(f"{name}:{gateway}" for name in sorted(alias_hosts)),
            **instance_limits(next(g for g in ctx.spec.groups if g.id == slot.group).resources),
        )

    def _env(self, index: int) -> dict[str, str]:
        ctx, slot, config = self.ctx, self.slots[index], self.config
        plan = self.network.plan
        inner = dataclasses.replace(ctx, sync_host=str(plan.gateway))
        ctx.instance_dir(slot.key).mkdir(parents=True, exist_ok=True)
        env = instance_env(
            inner,
            slot,
            subnet=str(plan.data_subnet),
            sidecar=True,
            hostname=plan.instances[index].hostname,
            base={},
        )
        env["TEST_OUTPUTS_PATH"] = instances.OUTPUTS_PATH
        env["TEST_TEMP_PATH"] = instances.TEMP_PATH
        env["ADDITIONAL_HOSTS"] = ",".join(config["additional_hosts"])
        if config["log_level"]:
            env["LOG_LEVEL"] = config["log_level"]
        for name, port in config["exposed_ports"].items():
            env[f"{name.strip().upper()}_PORT"] = port
        return env

    def _created(self, done: int, total: int) -> None:
        if done == total or done % 10 == 0:
            _note(self.ctx, f"containers created: {done}/{total}")

    async def _supervise(self) -> None:
        ctx = self.ctx
        sidecar = Sidecar(
            self.network,
            (str(self.network.plan.gateway), ctx.sync_port),
            (ctx.run_id, ctx.spec.plan, ctx.spec.case),
            lambda index, message: tell_instance(ctx, self.slots[index].key, message),
        )
        sampler = ResourceSampler(ctx.run_id, self.config["sample_interval"], ctx.instance_dir)
        launches = [
            Launch(
                slot.key,
                (client.docker_binary() or "docker", "start", "--attach", self.ids[slot.key]),
                dict(os.environ),
                str(ctx.run_dir),
                ctx.instance_dir(slot.key),
            )
            for slot in self.slots
        ]
        with RunContainment(ctx.run_id) as containment:
            supervisor = Supervisor(ctx.report, containment=containment)
            tasks = [
                asyncio.create_task(sidecar.serve()),
                asyncio.create_task(self._adopt_all()),
                asyncio.create_task(sampler.run(self._running)),
                asyncio.create_task(self._stop_containers()),
            ]
            try:
                await supervisor.run_all(launches, ctx.stop, ctx.stop_grace_s)
            finally:
                for task in tasks:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                # A container whose attach process was killed may still run.
                await instances.stop(list(self.ids.values()), 0)

    async def _adopt_all(self) -> None:
        """Give each container its data network as soon as it runs. Started containers
        are found by their cgroup (see :func:`instances.started_pid`: no engine call);
        every ``ENGINE_POLL_S`` the engine is asked which of the rest have ended, or run
        where their cgroup is not found (another cgroup driver)."""
        waiting = {self.ids[s.key]: i for i, s in enumerate(self.slots)}
        asked = time.monotonic()
        while waiting:
            for cid in list(waiting):
                pid = instances.started_pid(cid)
                if pid is not None and instances.runs_the_image(pid):
                    await self._adopt(waiting.pop(cid), pid)
            if waiting and time.monotonic() - asked >= ENGINE_POLL_S:
                asked = time.monotonic()
                for cid, (pid, status) in (await instances.states(list(waiting))).items():
                    if status == "running" and pid > 0 and cid in waiting:
                        await self._adopt(waiting.pop(cid), pid)
                    elif status not in ("created", "running"):
                        waiting.pop(cid, None)  # ended before it could be adopted
            if waiting:
                await asyncio.sleep(ADOPT_POLL_S)

    async def _adopt(self, index: int, pid: int) -> None:
        key = self.slots[index].key
        try:
            await self.network.adopt(index, pid)
            await _isolate(self.network.plan.instances[index].netns)
        except Exception as exc:
            if _alive(pid):  # else the container exited meanwhile: nothing to tell
                tell_instance(self.ctx, key, f"data network not attached: {exc}")
            return
        self.pids[key] = pid
        self.cells[key] = await asyncio.to_thread(cgroups.cell_of_process, pid)

    def _running(self) -> Mapping[str, Running]:
        return {
            key: Running(pid, None, self.cells.get(key))
            for key, pid in self.pids.items()
            if _alive(pid)
        }

    async def _stop_containers(self) -> None:
        await self.ctx.stop.wait()
        await instances.stop(list(self.ids.values()), self.ctx.stop_grace_s)


async def _isolate(netns: str) -> None:
    """Isolate the container's control bridge port (see containers/control.py)."""
    proc = await asyncio.create_subprocess_exec(
        "ip",
        "-n",
        netns,
        "-o",
        "link",
        "show",
        CONTROL_IFNAME,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await proc.communicate()
    found = re.search(rb"@if(\d+)", out)
    if found is None:
        return
    try:
        import socket

        port = socket.if_indextoname(int(found.group(1)))
    except OSError:
        return
    await run_ip([f"link set dev {port} type bridge_slave isolated on"])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _note(ctx: RunContext, message: str) -> None:
    ctx.report(RunnerNote(message=message, at=time.time()))
