from datetime import UTC, datetime

import pytest

from choreograph.wire.env import RunEnvVars, decode_params, encode_params, parse_start_time


def _vars(**over: object) -> RunEnvVars:
    base = dict(
        test_plan="p",
        test_case="c",
        test_run="r1",
        test_instance_count=5,
        test_group_id="g",
        test_group_instance_count=3,
        test_outputs_path="/o",
        test_temp_path="/t",
        test_subnet="127.1.0.0/16",
        test_start_time=datetime(2026, 11, 23, 19, 0, 1, 250000, tzinfo=UTC),
        sync_service_host="127.0.0.1",
        sync_service_port=4321,
        test_instance_params={"a": "1", "b": "x y"},
        group_index=2,
        global_index=4,
    )
    base.update(over)
    return RunEnvVars(**base)  # type: ignore[arg-type]


def test_round_trip_through_environment() -> None:
    original = _vars()
    env = original.to_env()
    assert all(isinstance(v, str) for v in env.values())
    assert RunEnvVars.from_env(env) == original


def test_testground_formats() -> None:
    env = _vars(test_sidecar=True).to_env()
    assert env["TEST_INSTANCE_PARAMS"] == "a=1|b=x y"
    assert env["TEST_SIDECAR"] == "true"
    assert env["TEST_START_TIME"] == "2026-11-23T19:00:01.250000Z"
    assert env["SYNC_SERVICE_PORT"] == "4321"
    assert env["TEST_INSTANCE_COUNT"] == "5" and env["TEST_GROUP_INSTANCE_COUNT"] == "3"


def test_params_codec_handles_empty_and_equals_in_values() -> None:
    assert decode_params("") == {}
    assert decode_params("k=a=b|flag") == {"k": "a=b", "flag": ""}
    assert encode_params({"k": "a=b"}) == "k=a=b"


def test_start_time_parses_go_forms() -> None:
    assert parse_start_time("2026-11-23T19:00:01Z") == datetime(2026, 11, 23, 19, 0, 1, tzinfo=UTC)
    assert parse_start_time("2026-11-23T20:00:01+01:00") == datetime(
        2026, 11, 23, 19, 0, 1, tzinfo=UTC
    )


def test_missing_variable_is_named() -> None:
    with pytest.raises(KeyError, match="TEST_RUN is not set"):
        RunEnvVars.from_env({"TEST_PLAN": "p", "TEST_CASE": "c"})


def test_instance_key() -> None:
    assert _vars().instance_key == "g/2"
