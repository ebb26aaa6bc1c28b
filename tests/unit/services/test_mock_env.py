"""What instances are told about mock collectors (shared and per-group variables), and the
ports a several-process service claims."""

from __future__ import annotations

import socket

import pytest
from tests.ports import port_in_use

from choreograph.errors import HostError, InputError
from choreograph.plan.spec import Artifact, ServiceSpec
from choreograph.services import ServiceEnv, check_ports, with_env
from choreograph.services.mocks import process_count


def artifact(**env: str) -> Artifact:
    return Artifact("exec:python", "b1", ("python3", "main.py"), "", env=dict(env))


def mock(name: str, port: int, instances: int = 1, groups: tuple[str, ...] = ()) -> ServiceSpec:
    return ServiceSpec(name, (), "tcp", port=port, kind="mock-collector", instances=instances,
                       group_mocks={g: {"mode": "slow_fail"} for g in groups})  # fmt: skip


def test_a_group_sees_its_own_collectors_and_the_others_the_shared_ones() -> None:
    env = ServiceEnv()
    env.update({"CHOREO_SERVICE_SAT_ADDR": "h:1", "CHOREO_SERVICE_SAT_ADDRS": "h:1,h:2"})
    env.by_group["slow"] = {"CHOREO_SERVICE_SAT_ADDR": "h:3", "CHOREO_SERVICE_SAT_ADDRS": "h:3"}
    env.named_by["slow"] = "sat"
    out = with_env({"fast": artifact(A="1"), "slow": artifact()}, env)
    assert out["fast"].env == {"A": "1", **env}
    assert out["slow"].env["CHOREO_SERVICE_SAT_ADDRS"] == "h:3"
    assert out["slow"].env["CHOREO_SERVICE_SAT_ADDR"] == "h:3"


def test_a_group_the_run_lacks_is_named() -> None:
    env = ServiceEnv()
    env.by_group["slwo"] = {"CHOREO_SERVICE_SAT_ADDR": "h:3"}
    env.named_by["slwo"] = "sat"
    with pytest.raises(
        InputError,
        match=r"\[\[services\]\] sat: groups.slwo: expected the id "
        r"of a group of this run \(fast, slow\), found 'slwo'",
    ):
        with_env({"fast": artifact(), "slow": artifact()}, env)  # fmt: skip


def test_plain_mappings_still_work() -> None:
    out = with_env({"g": artifact()}, {"CHOREO_SERVICE_DB_PORT": "5"})
    assert out["g"].env == {"CHOREO_SERVICE_DB_PORT": "5"}
    assert with_env({"g": artifact()}, {})["g"].env == {}


# An address of no host (RFC 5737): binding fails with EADDRNOTAVAIL, so the port checks
# below see clashes between services only, whatever listens on this machine.
NOWHERE = "192.0.2.1"


def test_every_port_of_a_collector_set_is_claimed() -> None:
    spec = mock("sat", 9000, instances=2, groups=("slow",))
    assert process_count(spec) == 4  # ports 9000 to 9003
    with pytest.raises(InputError, match="sat and db both use port 9003"):
        check_ports((spec, ServiceSpec("db", ("db",), "tcp", port=9003)), NOWHERE)
    check_ports((spec, ServiceSpec("db", ("db",), "tcp", port=9004)), NOWHERE)


def test_a_taken_port_inside_the_range_is_a_host_problem() -> None:
    with port_in_use() as taken:
        first = taken - 1
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", first))
            except OSError:
                pytest.skip(f"port {first} is busy too")
        with pytest.raises(HostError, match=f"service sat: port {taken} on 127.0.0.1"):
            check_ports((mock("sat", first, instances=2),), "127.0.0.1")
