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
import resource
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from choreograph.containers import client, control, instances
from choreograph.containers.instances import InstanceContainer
from choreograph.errors import InputError, RunnerError
from choreograph.net import cleanup
from choreograph.net.addresses import hostnames, run_tag
from choreograph.net.host import DEFAULT_MTU, RunNetwork
from choreograph.net.netns import run_ip
from choreograph.net.shaping.base import load_backend
from choreograph.net.sidecar import Sidecar
from choreograph.plan.facts import RunnerNote
from choreograph.plan.spec import RunSpec
from choreograph.runners import cgroups
from choreograph.runners.base import Placement, RunContext
from choreograph.runners.containment import RunContainment
from choreograph.runners.environment import instance_env, instance_slots
from choreograph.runners.local_netns import gateway_placement
from choreograph.runners.resources import ResourceSampler, sample_interval
from choreograph.runners.supervise import Launch, Running, Supervisor
from choreograph.runners.sync_alias import TESTGROUND_SYNC_ALIAS, parse_alias

WHERE = '[runners."local:docker"]'
CONFIG_KEYS = (
    "keep_containers",
    "log_level",
    "ulimits",
    "exposed_ports",
    "additional_hosts",
    "outcomes_collection_timeout",
    "no_start",
    "background",
    "subnet",
    "mtu",
    "shaping",
    "sample_interval",
    "start_concurrency",
)
DATA_IFNAME = "eth1"
CONTROL_IFNAME = "eth0"
TESTGROUND_NOFILE = 1048576
SYNC_ALIAS_NAME, TESTGROUND_SYNC_PORT = parse_alias(TESTGROUND_SYNC_ALIAS)
KEEP_LABEL = "choreograph.keep"
"""On containers a run keeps (``keep_containers``): no sweep of dead runs removes them."""
ADOPT_POLL_S = 0.02
ENGINE_POLL_S = 2.0
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")


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
                await _remove_run(run_id, name, keep=config["keep_containers"])


async def _remove_run(run_id: str, network: str, *, keep: bool) -> None:
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
        if not artifact.image:
            raise InputError(
                f"group {slot.group!r}: local:docker runs images, and builder "
                f"{artifact.builder!r} made none; use a docker:* builder (docker:go, "
                "docker:node, docker:generic, docker:python) or --use-build IMAGE"
            )
        gateway = str(self.network.plan.gateway)
        alias_hosts = {SYNC_ALIAS_NAME}
        if artifact.sync_alias:
            name, port = parse_alias(artifact.sync_alias)
            if port != ctx.sync_port:
                raise RunnerError(
                    f"group {slot.group!r}: the plan dials the sync service at "
                    f"{artifact.sync_alias}, but port {port} is taken on {gateway}; free it"
                )
            alias_hosts.add(name)
        return InstanceContainer(
            key=slot.key,
            name=instances.container_name(self.network.plan.tag, slot.key),
            image=artifact.image,
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
            **_limits(next(g for g in ctx.spec.groups if g.id == slot.group).resources),
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
            lambda index, message: _tell(ctx, self.slots[index].key, message),
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
                _tell(self.ctx, key, f"data network not attached: {exc}")
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


def _limits(resources: Mapping[str, str]) -> dict[str, Any]:
    where = "[groups.resources]"
    out: dict[str, Any] = {}
    if resources.get("memory"):
        out["memory"] = instances.memory_bytes(resources["memory"], where)
    if resources.get("cpu"):
        out["cpus"] = instances.cpus(resources["cpu"], where)
    return out


def parse_config(spec: RunSpec) -> dict[str, Any]:
    """The run config, checked: every Testground key is honoured or refused with why."""
    run_config = spec.run_config
    unknown = sorted(set(run_config) - set(CONFIG_KEYS))
    if unknown:
        raise InputError(f"{WHERE}: unknown setting {unknown[0]!r}; expected {CONFIG_KEYS}")
    mtu = run_config.get("mtu", DEFAULT_MTU)
    if not isinstance(mtu, int) or not 576 <= mtu <= 65535:
        raise InputError(f"{WHERE} mtu = {mtu!r}: expected a whole number 576-65535")
    concurrency = run_config.get("start_concurrency", 8)
    if not isinstance(concurrency, int) or concurrency < 1:
        raise InputError(f"{WHERE} start_concurrency = {concurrency!r}: expected a number ≥ 1")
    if run_config.get("background"):
        raise InputError(
            f"{WHERE} background = true: Choreograph always collects each container's output "
            "as it runs (the run folder has it); remove the setting"
        )
    return {
        "keep_containers": _flag(run_config, "keep_containers"),
        "no_start": _flag(run_config, "no_start"),
        "log_level": str(run_config.get("log_level", "") or ""),
        "ulimits": tuple(
            instances.ulimit_arg(u, f"{WHERE} ulimits")
            for u in _strings(run_config, "ulimits", default_ulimits())
        ),
        "exposed_ports": _ports(run_config.get("exposed_ports", {})),
        "additional_hosts": list(_strings(run_config, "additional_hosts", ())),
        "outcomes_collection_timeout": _duration(
            run_config.get("outcomes_collection_timeout", "45s")
        ),
        "subnet": run_config.get("subnet") or None,
        "mtu": mtu,
        "shaping": str(run_config.get("shaping", "userspace")),
        "sample_interval": sample_interval(run_config),
        "start_concurrency": concurrency,
    }


def default_ulimits() -> tuple[str, ...]:
    """Testground's ``nofile=1048576:1048576``, lowered to this host's hard limit when that
    is smaller: a container may not raise a limit above its engine's (runc fails to start
    it), and an engine started by hand often has a low one (20,000 here)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nofile = TESTGROUND_NOFILE if hard == resource.RLIM_INFINITY else min(TESTGROUND_NOFILE, hard)
    return (f"nofile={nofile}:{nofile}",)


def _flag(config: Mapping[str, Any], key: str) -> bool:
    value = config.get(key, False)
    if not isinstance(value, bool):
        raise InputError(f"{WHERE} {key} = {value!r}: expected true or false")
    return value


def _strings(config: Mapping[str, Any], key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    value = config.get(key, list(default))
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"{WHERE} {key} = {value!r}: expected a list of strings")
    return tuple(v.strip() for v in value if v.strip())


def _ports(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        raise InputError(f'{WHERE} exposed_ports = {value!r}: expected a table (pprof = "6060")')
    out = {}
    for name, port in value.items():
        text = str(port).strip()
        if not re.fullmatch(r"\d{1,5}(/(tcp|udp))?", text) or not str(name).strip():
            raise InputError(
                f'{WHERE} exposed_ports.{name} = {port!r}: expected a port such as "6060"'
            )
        out[str(name)] = text
    return out


def _duration(value: object) -> float:
    """Seconds of a Go-style duration (``45s``, ``2m``, ``500ms``) or a number of seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    found = _DURATION.match(str(value).strip())
    if not found:
        raise InputError(
            f"{WHERE} outcomes_collection_timeout = {value!r}: expected a duration such as 45s"
        )
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[found.group(2)]
    return float(found.group(1)) * scale


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


def _note(ctx: RunContext, message: str) -> None:
    ctx.report(RunnerNote(message=message, at=time.time()))


def _tell(ctx: RunContext, key: str, message: str) -> None:
    path = ctx.instance_dir(key) / "run.err"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as err:
        err.write(f"choreograph sidecar {time.strftime('%H:%M:%S')}: {message}\n")
