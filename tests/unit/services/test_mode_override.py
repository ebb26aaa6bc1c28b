"""A mock-collector's mode chosen per run (``--service-mode``, ``service_modes``) without
editing the composition: only the named service's own mode changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from choreograph.errors import InputError
from choreograph.plan.service import Service
from choreograph.plan.spec import GroupSpec, RunSpec, ServiceSpec
from choreograph.services.mocks import behaviour_args, parse_mode_flags, with_modes
from choreograph.services.mocks.modes import MODES, behaviour


def run_spec(*services: ServiceSpec) -> RunSpec:
    group = GroupSpec("g", 1, {}, "exec:python")
    return RunSpec("p", Path("/p"), "c", "local:exec", (group,), services=services)


def collector(name: str = "collector", **fields: object) -> ServiceSpec:
    return Service.model_validate({"name": name, "kind": "mock-collector", **fields}).to_spec()


REDIS = Service.model_validate(
    {"name": "redis", "command": ["redis-server"], "ready": {"tcp": 0}}
).to_spec()


def test_the_named_collector_takes_the_mode_and_its_defaults() -> None:
    spec = run_spec(REDIS, collector(mode="typical", seed=3, error_rate=0.1), collector("other"))
    changed = with_modes(spec, {"collector": "slow_fail"})
    redis, sat, other = changed.services
    assert redis == REDIS and other == spec.services[2]
    assert sat.mock == {"mode": "slow_fail", "error_rate": 0.1, "seed": 3}
    chosen = behaviour(sat.mock)
    assert (chosen.status, chosen.latency) == (503, MODES["slow_fail"].latency)
    assert chosen.error_rate == 0.1
    assert behaviour_args(sat.mock)[:2] == ["--mode", "slow_fail"]
    assert spec.services[1].mock["mode"] == "typical"  # the input is left alone
    assert changed.to_json()["services"][1]["mock"]["mode"] == "slow_fail"


def test_an_explicit_latency_is_kept_and_group_entries_keep_their_mode() -> None:
    latency = {"distribution": "constant", "mean": "20ms"}
    spec = run_spec(collector(mode="slow_succeed", latency=latency, groups={"g": "slow_fail"}))
    (sat,) = with_modes(spec, {"collector": "typical"}).services
    chosen = behaviour(sat.mock)
    assert chosen.mode == "typical" and chosen.status == 200
    assert chosen.latency.mean == pytest.approx(0.02)
    assert chosen.latency.distribution == "constant"
    assert sat.group_mocks == {"g": {"mode": "slow_fail"}}


def test_no_modes_is_the_same_spec() -> None:
    spec = run_spec(collector())
    assert with_modes(spec, {}) is spec


@pytest.mark.parametrize(
    ("modes", "words"),
    [
        ({"nope": "typical"}, ["no service 'nope'", "mock-collectors: collector"]),
        ({"redis": "typical"}, ["'redis' is a command", "mock-collectors: collector"]),
        ({"collector": "fast"}, ["'fast'", "typical, slow_succeed, slow_fail"]),
    ],
)
def test_what_cannot_be_overridden_names_what_exists(
    modes: dict[str, str], words: list[str]
) -> None:
    with pytest.raises(InputError) as caught:
        with_modes(run_spec(REDIS, collector()), modes)
    for word in words:
        assert word in str(caught.value)


def test_a_run_without_collectors_says_so() -> None:
    with pytest.raises(InputError, match="no mock-collector"):
        with_modes(run_spec(), {"collector": "typical"})


def test_flags_are_name_equals_mode() -> None:
    assert parse_mode_flags(["a=typical", " b = slow_fail", "a=slow_succeed"]) == {
        "a": "slow_succeed",
        "b": "slow_fail",
    }
    for bad in ("a", "=typical", "a="):
        with pytest.raises(InputError, match="expected NAME=MODE"):
            parse_mode_flags([bad])
