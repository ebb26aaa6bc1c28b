"""Testground's network and outcome contract, with a plan written against sdk-go as
Testground's own plans are (``plans/_integrations``, ``plans/verify``):

- an instance finds its control and data interfaces by Testground's names, ``eth0`` and
  ``eth1``, each with one IPv4 address (control in Testground's 192.18.0.0/16, data in
  ``TEST_SUBNET``) and no IPv6 one, as in a Docker container;
- a success logged on stdout but never published on ``run_events`` (sdk-go's plain
  ``TestCaseFn`` has no sync client) is a failure, as Testground's runners count only
  published outcomes (``_integrations`` case ``issue-1349-silent-failure``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ..conftest import Choreo, require_tools

CONTRACT = str(Path(__file__).parent / "plans" / "contract")

pytestmark = [
    pytest.mark.prebuilt("single", "--plan", CONTRACT, tools=("go",)),
    pytest.mark.skipif(os.geteuid() != 0, reason="local:netns needs root"),
]


@pytest.fixture(autouse=True)
def go() -> None:
    require_tools("go")


def test_interfaces_have_testgrounds_names_and_only_ipv4(choreo: Choreo) -> None:
    run = choreo("run", "single", "--plan", CONTRACT, "--case", "interfaces", "-i", "2")
    assert run.code == 0, run
    for key in ("single/0", "single/1"):
        messages = run.messages(key)
        assert any(m.startswith("eth0: 192.18.") for m in messages), messages
        assert any(m.startswith("eth1: ") for m in messages), messages


@pytest.mark.parametrize("runner", ["local:exec", "local:netns"])
def test_a_success_only_on_stdout_counts_under_process_runners(choreo: Choreo, runner: str) -> None:
    """Testground's local:exec collected no outcomes; ours reads stdout. Only the
    container runners follow Testground's published-only rule (tests/compat/
    testground_cli/test_docker.py and the unit tests of results/outcomes.py)."""
    run = choreo(
        "run", "single", "--plan", CONTRACT, "--case", "stdout-only-success", "--runner", runner
    )
    assert run.code == 0, run
    assert run.statuses() == {"single/0": "success"}


@pytest.mark.parametrize("runner", ["local:exec", "local:netns"])
def test_a_failure_never_published_is_still_a_failure(choreo: Choreo, runner: str) -> None:
    run = choreo(
        "run", "single", "--plan", CONTRACT, "--case", "stdout-only-failure", "--runner", runner
    )
    assert run.code == 1, run
    assert run.statuses() == {"single/0": "failure"}
    assert run.instances["single/0"]["error"] == "failing without a sync client"
