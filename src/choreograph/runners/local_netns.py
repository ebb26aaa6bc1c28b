"""Runner ``local:netns``: every instance is a host of its own on this machine.

Each instance runs in a network namespace and a UTS namespace of its own (unique
hostname), with an address in the run's data network (``TEST_SUBNET``), loopback up, and
an unshaped control path to the sync service; ``TEST_SIDECAR=true``. The sidecar (a task in
this process, see :mod:`choreograph.net.sidecar`) applies the network configs the plan
publishes; the shaping backend moves and shapes data packets.

Python plans are still forked from a preloaded interpreter: the fork runs a tiny entry
script that enters the instance's namespaces, then the plan. Other plans enter them
between fork and exec. Everything the run creates is tagged with it and removed at the
end; a run that dies anyway is swept by the next run or ``choreo healthcheck --fix``.

Without root, the run's network lives in a user namespace of its own where the kernel
allows one (:mod:`choreograph.net.rootless`): the same behaviour, nothing left behind
even after a SIGKILL; otherwise :meth:`LocalNetnsRunner.problems` names what is missing.

Run config (``[runners."local:netns"]``): ``subnet`` (data network CIDR; default: a free
private /16), ``mtu`` (of data interfaces, default 1500), ``shaping`` (``userspace``),
``launcher`` (``fork`` or ``exec``, as for ``local:exec``), ``sample_interval`` (per-second
CPU and memory of each instance from its cgroup, as for ``local:exec``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from choreograph.errors import InputError, RunnerError
from choreograph.net import _enter
from choreograph.net.addresses import AddressPlan, hostnames
from choreograph.net.host import DEFAULT_MTU, RunNetwork
from choreograph.net.rootless import RootlessNetwork, rootless_problems
from choreograph.net.shaping.base import load_backend
from choreograph.net.sidecar import Sidecar
from choreograph.plan.spec import Artifact, RunSpec
from choreograph.runners.base import Placement, RunContext
from choreograph.runners.environment import instance_env, instance_slots
from choreograph.runners.forkserver import ForkServer
from choreograph.runners.launch import ExecLauncher, Launcher
from choreograph.runners.local_exec import LAUNCHERS
from choreograph.runners.local_supervision import forked, local_supervision
from choreograph.runners.resources import sample_interval
from choreograph.runners.supervise import Launch
from choreograph.runners.sync_alias import wrapped_argv

CONFIG_KEYS = ("subnet", "mtu", "shaping", "launcher", "sample_interval", "memory_merge")
_CAP_NET_ADMIN, _CAP_SYS_ADMIN = 12, 21


class LocalNetnsRunner:
    id = "local:netns"
    config_keys = CONFIG_KEYS

    def __init__(self) -> None:
        self._network: RunNetwork | None = None

    def problems(self) -> list[str]:
        found = privilege_problems()
        if not any(os.access(Path(d) / "ip", os.X_OK) for d in os.get_exec_path()):
            found.append("the `ip` command (iproute2) is not installed")
        return found + load_backend("userspace").problems()

    @contextlib.asynccontextmanager
    async def placed(self, run_id: str, spec: RunSpec, run_dir: Path) -> AsyncIterator[Placement]:
        """As root, the run's network is made first so that the sync service listens on its
        control gateway alone (instances reach it there; nobody else's network does), and
        each instance's control address identifies its connections. Rootless, the network
        is made in :meth:`run` (it relays the service's port) and the service stays on
        loopback."""
        if not privileged():
            yield Placement()
            return
        config = _parse_config(spec.run_config)
        names = hostnames([(g.id, g.instances) for g in spec.groups])
        network = RunNetwork(run_id, names, **_network_options(config, run_dir))
        async with network:
            self._network = network
            try:
                yield gateway_placement(spec, network.plan)
            finally:
                self._network = None

    async def run(self, ctx: RunContext) -> None:
        config = _parse_config(ctx.spec.run_config)
        if self._network is not None:
            await self._run_in(self._network, ctx, config)
            return
        if privileged():
            # Run without placed() (a test, a benchmark): make the network here.
            names = hostnames([(g.id, g.instances) for g in ctx.spec.groups])
            options = _network_options(config, ctx.run_dir)
            async with RunNetwork(ctx.run_id, names, **options) as network:
                await self._run_in(network, ctx, config)
            return
        names = hostnames([(g.id, g.instances) for g in ctx.spec.groups])
        options = _network_options(config, ctx.run_dir)
        async with RootlessNetwork(ctx.run_id, names, sync_port=ctx.sync_port, **options) as net:
            await self._run_in(net, ctx, config)

    async def _run_in(
        self, network: RunNetwork | RootlessNetwork, ctx: RunContext, config: dict[str, Any]
    ) -> None:
        spec = ctx.spec
        slots = list(instance_slots(spec))
        plan = network.plan
        rootless = isinstance(network, RootlessNetwork)
        enter = network.instance_env() if isinstance(network, RootlessNetwork) else {}
        # Instances reach the service through the control network's gateway; so does the
        # sidecar as root (the service listens there alone), and through loopback rootless.
        inner = dataclasses.replace(ctx, sync_host=str(plan.gateway))
        sidecar = Sidecar(
            network,
            ("127.0.0.1" if rootless else str(plan.gateway), ctx.sync_port),
            (ctx.run_id, spec.plan, spec.case),
            lambda index, message: tell_instance(ctx, slots[index].key, message),
        )
        where = '[runners."local:netns"]'
        interval, mode = config["sample_interval"], config["launcher"]
        async with local_supervision(ctx, where, interval, mode) as local:
            supervisor, sampler, stack = local.supervisor, local.sampler, local.stack
            servers: dict[tuple[object, ...], Launcher] = {}
            launches = []
            for slot, host in zip(slots, plan.instances, strict=True):
                artifact = ctx.artifacts[slot.group]
                env = instance_env(
                    inner,
                    slot,
                    subnet=str(plan.data_subnet),
                    sidecar=True,
                    hostname=host.hostname,
                )
                env.update(enter, CHOREO_NETNS=host.netns)
                argv, launcher = await _launch_plan(
                    config["launcher"], artifact, env, stack, servers, local.merge
                )
                if artifact.sync_alias:
                    # The SDK dials a fixed name: resolve it to the gateway.
                    if rootless:
                        raise RunnerError(
                            "plans with a sync_alias (Testground's Rust SDK) need "
                            "local:netns as root"
                        )
                    argv = wrapped_argv(
                        artifact.argv, artifact.sync_alias, ctx.run_dir, str(plan.gateway)
                    )
                    launcher = netns_exec_launcher(env)
                launches.append(
                    Launch(
                        slot.key,
                        argv,
                        env,
                        artifact.cwd or str(ctx.temp_dir(slot.key)),
                        ctx.instance_dir(slot.key),
                        launcher,
                    )
                )
            side = asyncio.create_task(sidecar.serve())
            sampling = asyncio.create_task(sampler.run(supervisor.running_instances))
            try:
                await supervisor.run_all(launches, ctx.stop, ctx.stop_grace_s)
            finally:
                for task in (side, sampling):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task


def gateway_placement(spec: RunSpec, plan: AddressPlan) -> Placement:
    """The sync service on the run's control gateway, each instance known by its control
    address (the order of ``plan.instances`` is the run's instance order)."""
    keys = [slot.key for slot in instance_slots(spec)]
    origins = {key: str(h.control_ip) for key, h in zip(keys, plan.instances, strict=True)}
    return Placement(str(plan.gateway), origins)


def privileged() -> bool:
    """Root, or the capabilities that matter: namespaces are made on the host itself."""
    return os.geteuid() == 0 or _has_caps(_CAP_NET_ADMIN, _CAP_SYS_ADMIN)


def privilege_problems() -> list[str]:
    """Why this process can neither make namespaces itself nor in a user namespace of its
    own (rootless mode); empty when one of the two works."""
    if privileged() or not (missing := rootless_problems()):
        return []
    return [
        "local:netns needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN), or an unprivileged user "
        f"namespace, and this host refuses one: {'; '.join(missing)}. Run as root "
        "(e.g. sudo choreo run …) or allow user namespaces"
    ]


def netns_exec_launcher(env: Mapping[str, str]) -> ExecLauncher:
    """Fork+exec into the instance's namespaces (named in its environment)."""
    names = ("CHOREO_NETNS", "HOSTNAME", "CHOREO_USERNS", "CHOREO_MNTNS")
    where = tuple(env.get(name, "") for name in names)
    return ExecLauncher(preexec=lambda: _enter.enter_host(*where), where=where[0])


async def _launch_plan(
    mode: str,
    artifact: Artifact,
    env: Mapping[str, str],
    stack: contextlib.AsyncExitStack,
    servers: dict[tuple[object, ...], Launcher],
    merge: bool = False,
) -> tuple[tuple[str, ...], Launcher]:
    """The argv and launcher of one instance: a fork of a preloaded interpreter running
    the namespace entry script, or a plain exec that enters the namespaces first."""
    if mode == "fork" and forked(artifact):
        key = (artifact.argv[0], tuple(sorted(artifact.env.items())))
        if key not in servers:
            env = {**os.environ, **artifact.env}
            server = ForkServer(artifact.argv[0], env=env, merge=merge)
            servers[key] = await stack.enter_async_context(server)
        return (artifact.argv[0], _enter.__file__, *artifact.argv[1:]), servers[key]
    return artifact.argv, netns_exec_launcher(env)


def _parse_config(run_config: Mapping[str, Any]) -> dict[str, Any]:
    where = '[runners."local:netns"]'
    unknown = sorted(set(run_config) - set(CONFIG_KEYS))
    if unknown:
        raise InputError(f"{where}: unknown setting {unknown[0]!r}; expected {CONFIG_KEYS}")
    mode = str(run_config.get("launcher", "fork"))
    if mode not in LAUNCHERS:
        raise InputError(f"{where} launcher = {mode!r}: expected one of {LAUNCHERS}")
    mtu = checked_mtu(run_config, where)
    return {
        "subnet": run_config.get("subnet") or None,
        "mtu": mtu,
        "shaping": str(run_config.get("shaping", "userspace")),
        "launcher": mode,
        "sample_interval": sample_interval(run_config),
    }


def _network_options(config: Mapping[str, Any], run_dir: Path) -> dict[str, Any]:
    return {
        "subnet": config["subnet"],
        "mtu": config["mtu"],
        "shaping": config["shaping"],
        "log_path": run_dir / "switch.log",
    }


def checked_mtu(run_config: Mapping[str, Any], where: str) -> int:
    """The data interfaces' MTU of a run config (default 1500), checked."""
    mtu = run_config.get("mtu", DEFAULT_MTU)
    if not isinstance(mtu, int) or not 576 <= mtu <= 65535:
        raise InputError(f"{where} mtu = {mtu!r}: expected a whole number 576-65535")
    return mtu


def tell_instance(ctx: RunContext, key: str, message: str) -> None:
    """Append a sidecar message to the instance's ``run.err``, where its user looks."""
    path = ctx.instance_dir(key) / "run.err"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as err:
        err.write(f"choreograph sidecar {time.strftime('%H:%M:%S')}: {message}\n")


def _has_caps(*caps: int) -> bool:
    for line in _read("/proc/self/status", "").splitlines():
        if line.startswith("CapEff:"):
            effective = int(line.split()[1], 16)
            return all(effective >> cap & 1 for cap in caps)
    return False


def _read(path: str, default: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return default
