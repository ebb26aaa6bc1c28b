"""Will a run fit? Kubernetes quantities, node allocatable resources and what pods already
request, compared before anything is created.

The scheduler would otherwise leave the instances that do not fit ``Pending`` until the
run times out; refusing up front says how many fit and which resource runs out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from choreograph.errors import InputError

_SUFFIX = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}
_QUANTITY = re.compile(
    r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE]([+-]?[0-9]+))?(Ki|Mi|Gi|Ti|Pi|Ei|[mkMGTPE])?"
)


def quantity(text: str | int | float, where: str = "") -> Decimal:
    """A Kubernetes quantity (``100m``, ``0.5``, ``512Mi``, ``1e3``) as a number."""
    match = _QUANTITY.fullmatch(str(text).strip())
    if match is None:
        raise InputError(
            f"{where or 'quantity'} = {text!r}: expected a Kubernetes quantity "
            "such as 100m, 0.5, 256Mi or 1Gi"
        )
    number, exponent, suffix = match.groups()
    value = Decimal(number) * _SUFFIX[suffix or ""]
    if exponent:
        value *= Decimal(10) ** int(exponent)
    return value


@dataclass(frozen=True)
class Need:
    """What one instance of a group asks for."""

    cpu: Decimal
    memory: Decimal
    count: int


@dataclass(frozen=True)
class Room:
    """What the schedulable nodes have left: CPU (cores), memory (bytes), pods."""

    cpu: Decimal
    memory: Decimal
    pods: int
    nodes: int


def room(
    nodes: Iterable[Mapping[str, str]], requested: Iterable[Mapping[str, str]], pods: int
) -> Room:
    """Allocatable of every schedulable node, less what running or pending pods request.

    ``nodes``: each node's allocatable (``cpu``, ``memory``, ``pods``); ``requested``: each
    live pod's summed requests; ``pods``: how many live pods there are."""
    cpu = memory = Decimal(0)
    slots = count = 0
    for node in nodes:
        cpu += quantity(node.get("cpu", "0"))
        memory += quantity(node.get("memory", "0"))
        slots += int(quantity(node.get("pods", "0")))
        count += 1
    for request in requested:
        cpu -= quantity(request.get("cpu", "0"))
        memory -= quantity(request.get("memory", "0"))
    return Room(cpu, memory, slots - pods, count)


def refusal(needs: Iterable[Need], free: Room) -> str | None:
    """Why the run cannot be scheduled all at once (None if it can). Summed across nodes:
    per-node packing is the scheduler's job; this catches what cannot fit anywhere."""
    needs = list(needs)
    total = sum(n.count for n in needs)
    cpu = sum((n.cpu * n.count for n in needs), Decimal(0))
    memory = sum((n.memory * n.count for n in needs), Decimal(0))
    short = []
    if free.nodes == 0:
        return "the cluster has no schedulable node"
    if total > free.pods:
        short.append(f"{total} pods, {max(free.pods, 0)} pod slots free")
    if cpu > free.cpu:
        short.append(f"{_cores(cpu)} CPU requested, {_cores(max(free.cpu, Decimal(0)))} free")
    if memory > free.memory:
        short.append(
            f"{_bytes(memory)} memory requested, {_bytes(max(free.memory, Decimal(0)))} free"
        )
    if not short:
        return None
    fit = fitting(needs, free)
    return (
        f"{total} instances do not fit on the cluster's {free.nodes} schedulable "
        f"node(s): {'; '.join(short)}; at most {fit} of them fit. Lower "
        "testplan_pod_cpu / testplan_pod_memory, run fewer instances, or add nodes"
    )


def fitting(needs: Iterable[Need], free: Room) -> int:
    """How many instances, taken in group order, fit in ``free``."""
    cpu, memory, pods, fit = free.cpu, free.memory, free.pods, 0
    for need in needs:
        for _ in range(need.count):
            if pods < 1 or need.cpu > cpu or need.memory > memory:
                return fit
            cpu, memory, pods, fit = cpu - need.cpu, memory - need.memory, pods - 1, fit + 1
    return fit


def _cores(value: Decimal) -> str:
    return f"{value.normalize():f}" if value >= 1 else f"{int(value * 1000)}m"


def _bytes(value: Decimal) -> str:
    mib = value / (2**20)
    return f"{mib / 1024:.1f}Gi" if mib >= 1024 else f"{mib:.0f}Mi"
