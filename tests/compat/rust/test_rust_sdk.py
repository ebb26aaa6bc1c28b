"""A plan written against Testground's Rust SDK (crate ``testground`` 0.4), taken as it is.

That SDK dials ``testground-sync-service:5050`` whatever ``SYNC_SERVICE_*`` say, and only
works with a network sidecar (``TEST_SIDECAR=true``): the plan's manifest uses
``exec:generic`` with cargo and ``sync_alias``, and the ``local:netns`` runner.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ..conftest import Choreo, Run, require_tools

PLAN = str(Path(__file__).parent / "plans" / "basic")

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="local:netns with a sync alias needs root"),
    # a cold cargo build takes 2-7 minutes: done once, before the tests (tests/prebuild.py)
    pytest.mark.prebuilt("single", "--plan", PLAN, tools=("cargo",)),
]


@pytest.fixture(autouse=True)
def cargo() -> None:
    require_tools("cargo")


def _run(choreo: Choreo, case: str, count: int, *flags: str) -> Run:
    return choreo("run", "single", "--plan", PLAN, "--case", case, "-i", str(count), *flags)


def test_success_messages_and_params(choreo: Choreo) -> None:
    run = _run(choreo, "success", 2, "--tp", "greeting=ahoy")
    assert run.code == 0, str(run)
    assert set(run.statuses().values()) == {"success"}
    assert any("ahoy, from instance" in m for m in run.messages("single/0"))
    # the run reuses the build made before the tests, and so does the next one
    assert run.record["builds"]["single"]["from_cache"] is True
    again = _run(choreo, "success", 1)
    assert again.record["builds"]["single"]["from_cache"] is True
    assert (
        again.record["builds"]["single"]["build_id"] == run.record["builds"]["single"]["build_id"]
    )


def test_recorded_failure_is_a_failure(choreo: Choreo) -> None:
    run = _run(choreo, "failure", 1)
    assert run.code == 1
    (instance,) = run.instances.values()
    assert instance["status"] == "failure"
    assert "the system under test answered 503" in instance["error"]


def test_publish_subscribe_and_barrier(choreo: Choreo) -> None:
    run = _run(choreo, "pubsub", 3)
    assert run.code == 0, str(run)
    assert set(run.statuses().values()) == {"success"}
