import asyncio
from datetime import UTC, datetime
from pathlib import Path

from choreograph.plan.spec import Artifact, GroupSpec, RunSpec
from choreograph.runners.base import RunContext
from choreograph.runners.environment import instance_env, instance_slots
from choreograph.wire.env import RunEnvVars


def _ctx(tmp_path: Path) -> RunContext:
    spec = RunSpec(
        plan="p",
        plan_dir=tmp_path,
        case="c",
        runner="local:exec",
        groups=(
            GroupSpec("a", 2, {"x": "1"}, "exec:python"),
            GroupSpec("b", 3, {"x": "2", "y": "z"}, "exec:python"),
        ),
    )
    art = Artifact("exec:python", "id", ("python", "main.py"), str(tmp_path), env={"EXTRA": "1"})
    return RunContext(
        run_id="r",
        spec=spec,
        artifacts={"a": art, "b": art},
        run_dir=tmp_path,
        instance_dir=lambda k: tmp_path / k,
        temp_dir=lambda k: tmp_path / "tmp" / k,
        sync_host="127.0.0.1",
        sync_port=9,
        start_time=datetime(2026, 1, 1, tzinfo=UTC),
        report=lambda f: None,
        stop=asyncio.Event(),
    )


def test_slots_number_within_group_and_overall(tmp_path: Path) -> None:
    slots = list(instance_slots(_ctx(tmp_path).spec))
    assert [s.key for s in slots] == ["a/0", "a/1", "b/0", "b/1", "b/2"]
    assert [s.global_index for s in slots] == [0, 1, 2, 3, 4]


def test_env_carries_the_contract(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    slot = list(instance_slots(ctx.spec))[3]
    env = instance_env(ctx, slot, base={"PATH": "/bin"})
    decoded = RunEnvVars.from_env(env)
    assert (decoded.test_group_id, decoded.group_index, decoded.global_index) == ("b", 1, 3)
    assert decoded.test_instance_count == 5 and decoded.test_group_instance_count == 3
    assert decoded.test_instance_params == {"x": "2", "y": "z"}
    assert decoded.test_outputs_path == str(tmp_path / "b/1")
    assert env["TEST_SIDECAR"] == "false" and env["TEST_SUBNET"] == "127.1.0.0/16"
    assert env["PATH"] == "/bin" and env["EXTRA"] == "1"
    assert (tmp_path / "tmp" / "b/1").is_dir()
