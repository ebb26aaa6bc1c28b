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
``launcher`` (``fork`` or ``exec``, as for ``local:exec``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from choreograph.errors import InputError, RunnerError
from choreograph.net import _enter
from choreograph.net.addresses import hostnames
from choreograph.net.host import DEFAULT_MTU, RunNetwork
from choreograph.net.rootless import RootlessNetwork, rootless_problems
from choreograph.net.shaping.base import load_backend
from choreograph.net.sidecar import Sidecar
from choreograph.plan.spec import Artifact
from choreograph.runners.base import RunContext
from choreograph.runners.environment import instance_env, instance_slots
from choreograph.runners.forkserver import ForkServer
from choreograph.runners.launch import ExecLauncher, Launcher
from choreograph.runners.local_exec import LAUNCHERS
from choreograph.runners.supervise import Supervisor
from choreograph.runners.sync_alias import wrapped_argv

CONFIG_KEYS = ("subnet", "mtu", "shaping", "launcher")
_CAP_NET_ADMIN, _CAP_SYS_ADMIN = 12, 21


class LocalNetnsRunner:
    id = "local:netns"

    @property
    def sync_listen_host(self) -> str:
        """As root, instances reach the sync service at the control network's gateway
        address, which exists only once the run's network does: listen on every address.
        Rootless, the helper relays them to loopback."""
        return "0.0.0.0" if privileged() else "127.0.0.1"

    def problems(self) -> list[str]:
        found = privilege_problems()
        if not any(os.access(Path(d) / "ip", os.X_OK) for d in os.get_exec_path()):
            found.append("the `ip` command (iproute2) is not installed")
        return found + load_backend("userspace").problems()

    async def run(self, ctx: RunContext) -> None:
        config = _parse_config(ctx.spec.run_config)
        spec = ctx.spec
        names = hostnames([(g.id, g.instances) for g in spec.groups])
        slots = list(instance_slots(spec))
        options: dict[str, Any] = {
            "subnet": config["subnet"],
            "mtu": config["mtu"],
            "shaping": config["shaping"],
            "log_path": ctx.run_dir / "switch.log",
        }
        network: RunNetwork | RootlessNetwork
        if privileged():
            network = RunNetwork(ctx.run_id, names, **options)
        else:
            network = RootlessNetwork(ctx.run_id, names, sync_port=ctx.sync_port, **options)
        supervisor = Supervisor(ctx.report)
        async with network, contextlib.AsyncExitStack() as stack:
            plan = network.plan
            enter = network.instance_env() if isinstance(network, RootlessNetwork) else {}
            # Instances reach the service through the control network; the sidecar, here,
            # through loopback (the service listens on every address).
            inner = dataclasses.replace(ctx, sync_host=str(plan.gateway))
            sidecar = Sidecar(
                network,
                ("127.0.0.1", ctx.sync_port),
                (ctx.run_id, spec.plan, spec.case),
                lambda index, message: _tell(ctx, slots[index].key, message),
            )
            servers: dict[tuple[object, ...], Launcher] = {}
            try:
                async with asyncio.TaskGroup() as tg:
                    side = tg.create_task(sidecar.serve())
                    instances = []
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
                            config["launcher"], artifact, env, stack, servers
                        )
                        if artifact.sync_alias:
                            # The SDK dials a fixed name: resolve it to the gateway.
                            if not privileged():
                                raise RunnerError(
                                    "plans with a sync_alias (Testground's Rust SDK) need "
                                    "local:netns as root"
                                )
                            argv = wrapped_argv(
                                artifact.argv, artifact.sync_alias, ctx.run_dir, str(plan.gateway)
                            )
                            launcher = netns_exec_launcher(env)
                        instances.append(
                            tg.create_task(
                                supervisor.run_instance(
                                    slot.key,
                                    argv,
                                    env,
                                    artifact.cwd or str(ctx.temp_dir(slot.key)),
                                    ctx.instance_dir(slot.key),
                                    launcher,
                                )
                            )
                        )
                    watcher = tg.create_task(_stop_when_asked(ctx, supervisor))
                    await asyncio.wait(instances)
                    watcher.cancel()
                    side.cancel()
            finally:
                supervisor.signal_all(signal.SIGKILL)


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
) -> tuple[tuple[str, ...], Launcher]:
    """The argv and launcher of one instance: a fork of a preloaded interpreter running
    the namespace entry script, or a plain exec that enters the namespaces first."""
    if mode == "fork" and artifact.launcher == "python-fork":
        key = (artifact.argv[0], tuple(sorted(artifact.env.items())))
        if key not in servers:
            server = ForkServer(artifact.argv[0], env={**os.environ, **artifact.env})
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
    mtu = run_config.get("mtu", DEFAULT_MTU)
    if not isinstance(mtu, int) or not 576 <= mtu <= 65535:
        raise InputError(f"{where} mtu = {mtu!r}: expected a whole number 576-65535")
    return {
        "subnet": run_config.get("subnet") or None,
        "mtu": mtu,
        "shaping": str(run_config.get("shaping", "userspace")),
        "launcher": mode,
    }


def _tell(ctx: RunContext, key: str, message: str) -> None:
    """Append a sidecar message to the instance's ``run.err``, where its user looks."""
    path = ctx.instance_dir(key) / "run.err"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as err:
        err.write(f"choreograph sidecar {time.strftime('%H:%M:%S')}: {message}\n")


async def _stop_when_asked(ctx: RunContext, supervisor: Supervisor) -> None:
    await ctx.stop.wait()
    await supervisor.stop_all(ctx.stop_grace_s)


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
