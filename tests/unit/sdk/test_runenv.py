from datetime import UTC, datetime
from pathlib import Path

import pytest

from choreograph.errors import InputError
from choreograph.sdk import RunEnv
from choreograph.wire.env import RunEnvVars

START = datetime(2026, 11, 23, 19, 0, 1, 250000, tzinfo=UTC)


def full_env() -> dict[str, str]:
    return RunEnvVars(
        test_plan="pingpong",
        test_case="ping",
        test_run="run-1",
        test_instance_count=6,
        test_group_id="clients",
        test_group_instance_count=4,
        test_outputs_path="/out/c/2",
        test_temp_path="/tmp/c/2",
        test_subnet="16.0.0.0/16",
        test_start_time=START,
        sync_service_host="10.0.0.1",
        sync_service_port=5051,
        test_instance_params={"rounds": "3", "payload": '{"k": 1}'},
        test_instance_role="leader",
        test_repo="repo",
        test_branch="main",
        test_tag="v1",
        test_sidecar=True,
        test_hostname="host-7",
        group_index=2,
        global_index=5,
    ).to_env()


def test_every_field_decodes_from_a_dict() -> None:
    runenv = RunEnv.from_env(full_env())
    assert (runenv.test_plan, runenv.test_case, runenv.test_run) == ("pingpong", "ping", "run-1")
    assert runenv.test_group_id == "clients"
    assert runenv.test_instance_count == 6 and runenv.test_group_instance_count == 4
    assert runenv.group_index == 2 and runenv.global_index == 5
    assert runenv.test_subnet == "16.0.0.0/16"
    assert runenv.test_sidecar is True
    assert runenv.test_start_time == START
    assert runenv.test_instance_role == "leader"
    assert runenv.params == {"rounds": "3", "payload": '{"k": 1}'}
    assert runenv.outputs_path == Path("/out/c/2") and runenv.temp_path == Path("/tmp/c/2")
    assert runenv.instance_key == "clients/2"
    assert runenv.scope == ("run-1", "pingpong", "ping")
    assert runenv.vars.sync_service_host == "10.0.0.1" and runenv.vars.sync_service_port == 5051
    assert runenv.vars.test_hostname == "host-7"
    assert runenv.int_param("rounds") == 3 and runenv.json_param("payload") == {"k": 1}


def test_defaults_from_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TEST_PLAN", "TEST_CASE", "TEST_RUN", "TEST_INSTANCE_COUNT"):
        monkeypatch.setenv(name, "1" if name == "TEST_INSTANCE_COUNT" else name.lower())
    monkeypatch.delenv("TEST_GROUP_ID", raising=False)
    runenv = RunEnv.from_env()
    assert runenv.test_plan == "test_plan" and runenv.test_group_id == "single"
    assert runenv.test_group_instance_count == 1 and runenv.params == {}


def test_missing_variable_is_an_input_error_naming_it() -> None:
    env = full_env()
    del env["TEST_RUN"]
    with pytest.raises(InputError, match="TEST_RUN is not set"):
        RunEnv.from_env(env)


def test_malformed_variable_is_an_input_error() -> None:
    env = full_env() | {"TEST_INSTANCE_COUNT": "six"}
    with pytest.raises(InputError, match="malformed instance environment"):
        RunEnv.from_env(env)


def test_start_event_carries_sdk_go_run_params() -> None:
    params = RunEnv.from_env(full_env()).run_params()
    assert params["plan"] == "pingpong" and params["case"] == "ping" and params["run"] == "run-1"
    assert params["instances"] == 6 and params["group"] == "clients"
    assert params["group_instances"] == 4 and params["network"] == "16.0.0.0/16"
    assert params["params"] == {"rounds": "3", "payload": '{"k": 1}'}
    assert params["start_time"] == "2026-11-23T19:00:01.250000Z"
