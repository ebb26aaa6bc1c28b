"""[[services]] fixed ports: a port another process holds is a host problem found before
anything starts, two services on one port is bad input, a free port passes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.ports import port_in_use

from choreograph.errors import HostError, InputError
from choreograph.plan.spec import ServiceSpec
from choreograph.services import check_ports, free_port, start_all


@pytest.fixture
def taken_port() -> Iterator[int]:
    with port_in_use() as port:
        yield port


def service(name: str, port: int) -> ServiceSpec:
    return ServiceSpec(name, ("sleep", "30"), "tcp", port=port)


async def test_a_port_in_use_fails_before_any_service_starts(
    taken_port: int, tmp_path: Path
) -> None:
    specs = (service("first", free_port("127.0.0.1")), service("web", taken_port))
    async with contextlib.AsyncExitStack() as stack:
        with pytest.raises(HostError, match=f"service web: port {taken_port} on 127.0.0.1"):
            await start_all(specs, tmp_path, stack, "127.0.0.1")
    assert not (tmp_path / "services").exists()  # not even the first one was started


def test_two_services_on_one_port_is_bad_input() -> None:
    port = free_port("127.0.0.1")
    with pytest.raises(InputError, match=f"a and b both use port {port}"):
        check_ports((service("a", port), service("b", port)), "127.0.0.1")


def test_free_and_picked_ports_pass() -> None:
    check_ports(
        (service("a", free_port("127.0.0.1")), service("b", 0), service("c", 0)), "127.0.0.1"
    )
