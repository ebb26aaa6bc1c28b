"""Kubernetes quantities, what the schedulable nodes have left, and the refusal that says
before anything is created that a run cannot fit, and how many of its instances would."""

from __future__ import annotations

from decimal import Decimal

import pytest

from choreograph.cluster.capacity import Need, Room, fitting, quantity, refusal, room
from choreograph.errors import InputError

GI = Decimal(2) ** 30
MI = Decimal(2) ** 20


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("100m", Decimal("0.1")),
        ("0.5", Decimal("0.5")),
        ("1", Decimal(1)),
        ("256Mi", 256 * MI),
        ("1Gi", GI),
        ("1e3", Decimal(1000)),
        ("1E3", Decimal(1000)),
        ("1e-3", Decimal("0.001")),
        ("1.5G", Decimal(1_500_000_000)),
        ("2k", Decimal(2000)),
        ("4Ki", Decimal(4096)),
        ("16265544Ki", 16265544 * Decimal(1024)),
        ("3M", Decimal(3_000_000)),
        ("1T", Decimal(10) ** 12),
        ("1Ti", Decimal(2) ** 40),
        ("1E", Decimal(10) ** 18),  # a bare E is the exa suffix, not an exponent
        (".5", Decimal("0.5")),
        ("  250m ", Decimal("0.25")),
        ("0.100", Decimal("0.1")),  # what the runner's summed requests look like
        ("1E+3", Decimal(1000)),  # str() of a Decimal
    ],
)
def test_quantity_parses_kubernetes_notation(text: str, expected: Decimal) -> None:
    assert quantity(text) == expected


@pytest.mark.parametrize(("value", "expected"), [(2, Decimal(2)), (0.5, Decimal("0.5"))])
def test_quantity_takes_numbers_as_toml_gives_them(value: int | float, expected: Decimal) -> None:
    assert quantity(value) == expected


@pytest.mark.parametrize("text", ["", "abc", "100 m", "1x", "1mi", "-1", "1Gib", "m", "1..5", "e3"])
def test_quantity_refuses_other_text_saying_where(text: str) -> None:
    with pytest.raises(InputError) as caught:
        quantity(text, "group g cpu")
    message = str(caught.value)
    assert message.startswith("group g cpu = ")
    assert repr(text) in message
    assert "Kubernetes quantity" in message


def test_quantity_refusal_without_where_says_quantity() -> None:
    with pytest.raises(InputError, match=r"^quantity = 'lots'"):
        quantity("lots")


def test_room_sums_allocatable_and_subtracts_live_requests() -> None:
    free = room(
        [
            {"cpu": "4", "memory": "8Gi", "pods": "110"},
            {"cpu": "3800m", "memory": "16265544Ki", "pods": "110"},
        ],
        [{"cpu": "250m", "memory": "128Mi"}, {"cpu": "0.100", "memory": "1E+3"}, {}],
        3,
    )
    assert free == Room(
        cpu=Decimal("7.45"),
        memory=8 * GI + 16265544 * Decimal(1024) - 128 * MI - 1000,
        pods=217,
        nodes=2,
    )


def test_room_missing_allocatable_counts_as_nothing() -> None:
    assert room([{}], [], 0) == Room(Decimal(0), Decimal(0), 0, 1)


def test_room_of_no_nodes() -> None:
    free = room([], [{"cpu": "1"}], 1)
    assert free.nodes == 0
    assert free.pods == -1
    assert free.cpu == -1


def test_room_refuses_a_bad_quantity() -> None:
    with pytest.raises(InputError):
        room([{"cpu": "four"}], [], 0)


def _room(cpu: str = "4", memory: Decimal = 8 * GI, pods: int = 110, nodes: int = 1) -> Room:
    return Room(Decimal(cpu), memory, pods, nodes)


def test_refusal_none_when_it_fits() -> None:
    needs = [Need(Decimal("0.101"), 104 * MI, 10), Need(Decimal("1"), GI, 2)]
    assert refusal(needs, _room()) is None


def test_refusal_none_when_it_fits_exactly() -> None:
    needs = [Need(Decimal("0.5"), GI, 8)]
    assert refusal(needs, _room(cpu="4", memory=8 * GI, pods=8)) is None


def test_refusal_none_for_no_instances() -> None:
    assert refusal([], _room()) is None


def test_refusal_names_short_cpu_and_how_many_fit() -> None:
    reason = refusal([Need(Decimal("0.5"), GI, 5)], _room(cpu="2", memory=16 * GI, nodes=2))
    assert reason == (
        "5 instances do not fit on the cluster's 2 schedulable node(s): "
        "2.5 CPU requested, 2 free; at most 4 of them fit. Lower testplan_pod_cpu / "
        "testplan_pod_memory, run fewer instances, or add nodes"
    )


def test_refusal_names_short_memory_only() -> None:
    reason = refusal([Need(Decimal("0.1"), 200 * MI, 4)], _room(memory=700 * MI))
    assert reason is not None
    assert "800Mi memory requested, 700Mi free" in reason
    assert "CPU" not in reason.split(";")[0]
    assert "pod slots" not in reason
    assert "at most 3 of them fit" in reason


def test_refusal_memory_in_gibibytes_when_large() -> None:
    reason = refusal([Need(Decimal("0.1"), 3 * GI, 4)], _room(memory=10 * GI))
    assert reason is not None
    assert "12.0Gi memory requested, 10.0Gi free" in reason
    assert "at most 3 of them fit" in reason


def test_refusal_names_short_pod_slots() -> None:
    reason = refusal([Need(Decimal("0.001"), MI, 12)], _room(pods=10))
    assert reason is not None
    assert "12 pods, 10 pod slots free" in reason
    assert "at most 10 of them fit" in reason


def test_refusal_pod_slots_never_negative() -> None:
    reason = refusal([Need(Decimal("0.001"), MI, 1)], _room(pods=-3))
    assert reason is not None
    assert "1 pods, 0 pod slots free" in reason
    assert "at most 0 of them fit" in reason


def test_refusal_names_every_short_resource() -> None:
    reason = refusal([Need(Decimal("0.25"), GI, 20)], _room(cpu="2", memory=4 * GI, pods=10))
    assert reason is not None
    assert (
        ": 20 pods, 10 pod slots free; 5 CPU requested, 2 free; "
        "20.0Gi memory requested, 4.0Gi free; at most 4 of them fit." in reason
    )


def test_refusal_cpu_below_a_core_in_millicores() -> None:
    reason = refusal([Need(Decimal("0.3"), MI, 3)], _room(cpu="0.5"))
    assert reason is not None
    assert "900m CPU requested, 500m free" in reason
    assert "at most 1 of them fit" in reason


def test_refusal_with_no_schedulable_node() -> None:
    reason = refusal([Need(Decimal("0.1"), MI, 1)], Room(Decimal(0), Decimal(0), 0, 0))
    assert reason is not None
    assert "no schedulable node" in reason


def test_fitting_takes_groups_in_order() -> None:
    big, small = Need(Decimal(1), GI, 2), Need(Decimal("0.1"), MI, 5)
    free = _room(cpu="1.5")
    # The second big instance does not fit, so nothing after it is counted.
    assert fitting([big, small], free) == 1
    # Small ones first: 5 x 0.1 then one 1-core instance; the second does not fit.
    assert fitting([small, big], free) == 6


def test_fitting_stops_at_each_resource() -> None:
    need = Need(Decimal("0.5"), GI, 10)
    assert fitting([need], _room(cpu="100", memory=100 * GI, pods=3)) == 3
    assert fitting([need], _room(cpu="1.6", memory=100 * GI)) == 3
    assert fitting([need], _room(memory=Decimal(2) * GI + 1)) == 2
    assert fitting([need], _room(cpu="100", memory=100 * GI)) == 10


def test_fitting_of_nothing() -> None:
    assert fitting([], _room()) == 0
    assert fitting([Need(Decimal(1), GI, 0)], _room()) == 0
