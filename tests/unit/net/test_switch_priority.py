"""The switch asks for real-time scheduling (its delays are only as exact as its wake-ups)
and falls back to a high niceness where that is not allowed (rootless)."""

from __future__ import annotations

import os

import pytest

from choreograph.net.shaping import _switch_main


def test_real_time_first(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, object]] = []
    monkeypatch.setattr(
        os, "sched_setscheduler", lambda pid, policy, param: calls.append(("rt", policy))
    )
    monkeypatch.setattr(os, "setpriority", lambda *args: calls.append(("nice", args)))
    _switch_main._prioritise()
    assert calls == [("rt", os.SCHED_FIFO)]


def test_niceness_when_real_time_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, int, int]] = []

    def refuse(*args: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_setscheduler", refuse)
    monkeypatch.setattr(os, "setpriority", lambda *args: calls.append(args))
    _switch_main._prioritise()
    assert calls == [(os.PRIO_PROCESS, 0, _switch_main.SWITCH_NICE)]
