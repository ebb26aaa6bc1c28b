"""``choreo healthcheck``'s runner checks: a runner whose engine this host does not have
running (Docker stopped or absent, no kubeconfig) is reported but fails the check only
when it was asked for by name; one that is set up here but cannot run fails it."""

from __future__ import annotations

import pytest

from choreograph import healthcheck
from choreograph.containers import client
from choreograph.runners import local_docker

STOPPED = ["the Docker engine is not reachable (Cannot connect to the Docker daemon); start it"]


def test_a_stopped_docker_engine_is_reported_without_failing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(client, "problems", lambda: list(STOPPED))
    check = healthcheck._runner_check("local:docker")
    assert check.ok and check.detail.startswith("not set up here: the Docker engine")


def test_a_stopped_docker_engine_fails_when_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client, "problems", lambda: list(STOPPED))
    check = healthcheck._runner_check("local:docker", asked=True)
    assert not check.ok and "not reachable" in check.detail


def test_a_running_engine_that_cannot_be_used_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client, "problems", lambda: [])
    monkeypatch.setattr(local_docker.os, "geteuid", lambda: 1000)
    check = healthcheck._runner_check("local:docker")
    assert not check.ok and "needs root" in check.detail
