"""The only writer of ``TEST_*`` variables: from a run spec to each instance's environment."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from choreograph.errors import InputError
from choreograph.plan.spec import Artifact, RunSpec
from choreograph.runners.base import RunContext
from choreograph.wire.env import RunEnvVars

LOOPBACK_SUBNET = "127.1.0.0/16"


@dataclass(frozen=True)
class InstanceSlot:
    key: str
    group: str
    group_index: int
    global_index: int


def instance_slots(spec: RunSpec) -> Iterator[InstanceSlot]:
    """Every instance of the run, in group order, numbered within its group and overall."""
    n = 0
    for group in spec.groups:
        for index in range(group.instances):
            yield InstanceSlot(f"{group.id}/{index}", group.id, index, n)
            n += 1


def instance_env(
    ctx: RunContext,
    slot: InstanceSlot,
    *,
    subnet: str = LOOPBACK_SUBNET,
    sidecar: bool = False,
    hostname: str = "",
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The full environment of one instance: the host's own, the artifact's, then TEST_*."""
    spec = ctx.spec
    group = next(g for g in spec.groups if g.id == slot.group)
    artifact = ctx.artifacts[slot.group]
    outputs = ctx.instance_dir(slot.key)
    temp = ctx.temp_dir(slot.key)
    temp.mkdir(parents=True, exist_ok=True)
    run_env = RunEnvVars(
        test_plan=spec.plan,
        test_case=spec.case,
        test_run=ctx.run_id,
        test_instance_count=spec.total_instances,
        test_group_id=group.id,
        test_group_instance_count=group.instances,
        test_outputs_path=str(outputs),
        test_temp_path=str(temp),
        test_subnet=subnet,
        test_start_time=ctx.start_time,
        sync_service_host=ctx.sync_host,
        sync_service_port=ctx.sync_port,
        test_instance_params=dict(group.params),
        test_sidecar=sidecar,
        test_hostname=hostname,
        test_disable_metrics=spec.disable_metrics,
        group_index=slot.group_index,
        global_index=slot.global_index,
    )
    env = dict(os.environ if base is None else base)
    env.update(artifact.env)
    env.update(run_env.to_env())
    env.setdefault("PYTHONUNBUFFERED", "1")
    # Testground's Rust SDK refuses to start unless these exist (it parses them with clap);
    # empty means "none", exactly as for sdk-go.
    env.setdefault("HOSTNAME", hostname or socket.gethostname())
    env.setdefault("INFLUXDB_URL", "")
    env.setdefault("REDIS_HOST", "")
    return env


def required_image(artifact: Artifact, group: str, runner: str) -> str:
    """The image a container runner starts for ``group``; refused when the build made none."""
    if not artifact.image:
        raise InputError(
            f"group {group!r}: {runner} runs images, and builder {artifact.builder!r} made "
            "none; use a docker:* builder (docker:go, docker:node, docker:generic, "
            "docker:python) or --use-build IMAGE"
        )
    return artifact.image
