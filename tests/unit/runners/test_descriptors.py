"""The descriptor plan of a local run: refused when the instances' own pipes and sync
connections cannot fit, else one budget for what may stay open."""

from __future__ import annotations

import resource

import pytest

from choreograph.errors import InputError
from choreograph.runners import descriptors

WHERE = '[runners."local:exec"]'


def limits(monkeypatch: pytest.MonkeyPatch, soft: int, hard: int) -> list[tuple[int, int]]:
    state = {"now": (soft, hard)}
    asked: list[tuple[int, int]] = []

    def setrlimit(which: int, value: tuple[int, int]) -> None:
        asked.append(value)
        state["now"] = value

    monkeypatch.setattr(resource, "getrlimit", lambda which: state["now"])
    monkeypatch.setattr(resource, "setrlimit", setrlimit)
    return asked


def test_the_soft_limit_is_raised_to_the_hard_one(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = limits(monkeypatch, 1024, 20000)
    assert descriptors.open_files_limit() == 20000
    assert asked == [(20000, 20000)]


def test_what_is_left_after_the_instances_is_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    limits(monkeypatch, 20000, 20000)
    budget = descriptors.plan_budget(5000, WHERE)
    assert budget.limit == 20000 - 5000 * 3 - descriptors.RESERVE
    assert descriptors.plan_budget(100, WHERE).limit == 20000 - 300 - descriptors.RESERVE


def test_a_run_that_cannot_fit_is_refused_with_the_way_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    limits(monkeypatch, 20000, 20000)
    with pytest.raises(InputError) as caught:
        descriptors.plan_budget(7000, WHERE)
    message = str(caught.value)
    assert message.startswith(f"{WHERE}: 7,000 instances need about 22,024 open files in choreo"), (
        message
    )
    assert "may open 20,000 (`ulimit -n`); at most 6,325 instances fit" in message
    assert "ulimit -n 22,024" in message
