"""Runner ``local:exec``: one plain process per instance on this host, no privileges."""

from __future__ import annotations

import asyncio
import signal

from choreograph.runners.base import RunContext
from choreograph.runners.environment import instance_env, instance_slots
from choreograph.runners.supervise import Supervisor


class LocalExecRunner:
    id = "local:exec"

    def problems(self) -> list[str]:
        return []

    async def run(self, ctx: RunContext) -> None:
        supervisor = Supervisor(ctx.report)
        try:
            async with asyncio.TaskGroup() as tg:
                instances = []
                for slot in instance_slots(ctx.spec):
                    artifact = ctx.artifacts[slot.group]
                    instances.append(
                        tg.create_task(
                            supervisor.run_instance(
                                slot.key,
                                artifact.argv,
                                instance_env(ctx, slot),
                                artifact.cwd,
                                ctx.instance_dir(slot.key),
                            )
                        )
                    )
                watcher = tg.create_task(_stop_when_asked(ctx, supervisor))
                await asyncio.wait(instances)
                watcher.cancel()
        finally:
            # Sweep stragglers: grandchildren an instance left in its process group.
            supervisor.signal_all(signal.SIGKILL)


async def _stop_when_asked(ctx: RunContext, supervisor: Supervisor) -> None:
    await ctx.stop.wait()
    await supervisor.stop_all(ctx.stop_grace_s)
