"""What both local runners (``local:exec``, ``local:netns``) set up around their instances.

One descriptor plan for the run (:mod:`~choreograph.runners.descriptors`), the sampler that
shares it, memory merging when the run asks or needs it
(:mod:`~choreograph.runners.memory_merge`), the run's containment and its supervisor: in
this order in, the reverse out, so merging outlives every instance and fork server.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from choreograph.plan.spec import Artifact
from choreograph.runners import descriptors, memory_merge
from choreograph.runners.base import RunContext
from choreograph.runners.containment import RunContainment
from choreograph.runners.resources import ResourceSampler
from choreograph.runners.supervise import Supervisor


@dataclass(frozen=True)
class LocalSupervision:
    supervisor: Supervisor
    sampler: ResourceSampler
    stack: contextlib.AsyncExitStack
    """Where the runner starts what must stop before containment ends (fork servers)."""
    merge: bool
    """Whether fork servers are to mark their instances for merging."""


def forked(artifact: Artifact) -> bool:
    """Whether the fork launcher forks this artifact's instances from a preloaded Python
    (a plan with a fixed sync address is exec'd through its wrapper instead)."""
    return artifact.launcher == "python-fork" and not artifact.sync_alias


@contextlib.asynccontextmanager
async def local_supervision(
    ctx: RunContext, where: str, sample_interval: float, launcher: str
) -> AsyncIterator[LocalSupervision]:
    """Everything above for the run of ``ctx``; ``where``: the runner's table, for errors;
    ``launcher``: the run's ``launcher`` setting (only ``fork`` forks instances)."""
    forked_count = sum(
        g.instances for g in ctx.spec.groups if launcher == "fork" and forked(ctx.artifacts[g.id])
    )
    budget = descriptors.plan_budget(sum(g.instances for g in ctx.spec.groups), where)
    sampler = ResourceSampler(ctx.run_id, sample_interval, ctx.instance_dir, fd_budget=budget)
    merge = memory_merge.decide(ctx.spec.run_config, where, forked_count)
    async with (
        memory_merge.memory_merging(ctx.run_id, merge, ctx.report, forked_count) as merging,
        contextlib.AsyncExitStack() as stack,
    ):
        containment = stack.enter_context(RunContainment(ctx.run_id))
        admit = merging.admitted if merging is not None else None
        supervisor = Supervisor(ctx.report, containment=containment, admit=admit, fd_budget=budget)
        yield LocalSupervision(supervisor, sampler, stack, merge)
