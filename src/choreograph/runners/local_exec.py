"""Runner ``local:exec``: one plain process per instance on this host, no privileges.

Python plans run by the host interpreter are forked from a preloaded fork server (one
per distinct interpreter and environment); every other instance is exec'd by one more fork
server, with nothing preloaded, so that neither the fork nor the wait for the exec falls on
the engine's thread (see ``runners._forkserver_main``). ``launcher = "exec"`` in the run
config makes every instance a plain exec from the engine (``subprocess.Popen``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys

from choreograph.errors import InputError
from choreograph.plan.spec import Artifact
from choreograph.runners.base import RunContext
from choreograph.runners.environment import instance_env, instance_slots
from choreograph.runners.forkserver import ForkServer
from choreograph.runners.launch import Launcher
from choreograph.runners.local_supervision import forked, local_supervision
from choreograph.runners.resources import sample_interval
from choreograph.runners.supervise import Launch
from choreograph.runners.sync_alias import private_loopback, wrapped_argv

LAUNCHERS = ("fork", "exec")


class LocalExecRunner:
    id = "local:exec"
    # sample_interval: runners/resources.py; memory_merge: runners/memory_merge.py
    config_keys = ("launcher", "sample_interval", "memory_merge")

    def problems(self) -> list[str]:
        return []

    def sync_alias_host(self, run_id: str) -> str:
        """Where the sync service listens for a plan with a fixed sync address: a
        run-private loopback address, so runs never clash on the fixed port."""
        return private_loopback(run_id)

    async def run(self, ctx: RunContext) -> None:
        mode = str(ctx.spec.run_config.get("launcher", "fork"))
        if mode not in LAUNCHERS:
            raise InputError(
                f'[runners."local:exec"] launcher = {mode!r}: expected one of {LAUNCHERS}'
            )
        interval = sample_interval(ctx.spec.run_config)
        async with local_supervision(ctx, '[runners."local:exec"]', interval, mode) as local:
            supervisor, sampler = local.supervisor, local.sampler
            launches = await _launches(ctx, mode, local.merge, local.stack)
            sampling = asyncio.create_task(sampler.run(supervisor.running_instances))
            try:
                await supervisor.run_all(launches, ctx.stop, ctx.stop_grace_s)
            finally:
                sampling.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sampling


async def _launches(
    ctx: RunContext, mode: str, merge: bool, stack: contextlib.AsyncExitStack
) -> list[Launch]:
    """Every instance's launch; the fork servers they need are started in ``stack``."""
    launchers: dict[tuple[object, ...], Launcher] = {}

    async def launcher_for(artifact: Artifact) -> Launcher | None:
        if mode != "fork":
            return None
        if not forked(artifact):
            key: tuple[object, ...] = ("exec",)
            server = ForkServer(sys.executable, preload=(), exec_mode=True)
        else:
            key = (artifact.argv[0], tuple(sorted(artifact.env.items())))
            server = ForkServer(artifact.argv[0], env=_base_env(artifact), merge=merge)
        if key not in launchers:
            launchers[key] = await stack.enter_async_context(server)
        return launchers[key]

    launches = []
    for slot in instance_slots(ctx.spec):
        artifact = ctx.artifacts[slot.group]
        launches.append(
            Launch(
                slot.key,
                _argv(ctx, artifact),
                instance_env(ctx, slot),
                artifact.cwd or str(ctx.temp_dir(slot.key)),
                ctx.instance_dir(slot.key),
                await launcher_for(artifact),
            )
        )
    return launches


def _argv(ctx: RunContext, artifact: Artifact) -> tuple[str, ...]:
    if not artifact.sync_alias:
        return artifact.argv
    return wrapped_argv(artifact.argv, artifact.sync_alias, ctx.run_dir, ctx.sync_host)


def _base_env(artifact: Artifact) -> dict[str, str]:
    return {**os.environ, **artifact.env}
