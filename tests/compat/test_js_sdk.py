"""Plans written against @testground/sdk 0.1.2, taken as they are, run on Choreograph.

The plan ``testground-js`` has a manifest as Testground writes it (only ``docker:node`` and
``local:docker`` enabled): it runs as it is where Docker runs, and the other tests run it
with ``--builder exec:node --runner local:exec``; ``js-native`` enables Choreograph's ids
and runs without flags. Each case checks itself
(a wrong count or order throws, which sdk-js records as a failure) and records what it
saw, which the tests read back from the run folder.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from tests.docker_support import prepared_images, requires_docker

from .conftest import JS_PLANS, Choreo, Run

TG_JS = str(JS_PLANS / "testground-js")
JS_NATIVE = str(JS_PLANS / "js-native")
FLAGS = ("--builder", "exec:node", "--runner", "local:exec", "--timeout", "60")

pytestmark = [
    pytest.mark.usefixtures("node"),
    pytest.mark.prebuilt("single", "--plan", TG_JS, "--builder", "exec:node", tools=("npm",)),
    pytest.mark.prebuilt("single", "--plan", JS_NATIVE, tools=("npm",)),
]


def run_case(choreo: Choreo, case: str, instances: int, *more: str) -> Run:
    return choreo(
        "run", "single", "--plan", TG_JS, "--case", case, "-i", str(instances), *FLAGS, *more
    )


def assert_all_succeeded(run: Run, instances: int) -> None:
    assert run.code == 0, run
    assert run.statuses() == {f"single/{i}": "success" for i in range(instances)}
    # Decided by the instance's own event (stdout or run_events), never by its exit alone.
    assert {o["decided_by"] for o in run.instances.values()} <= {"stdout", "sync"}
    assert run.table_row("single") == [f"{instances}/{instances}", "0", "0", "0"]


def test_docker_manifest_without_docker_says_how_to_start_it_and_what_else_runs(
    choreo: Choreo,
) -> None:
    run = choreo(
        "run", "single", "--plan", TG_JS, "--case", "barrier", "-i", "5",
        env={"CHOREO_DOCKER": "/nonexistent/docker"},
    )  # fmt: skip
    assert run.code == 4, run
    message = " ".join(run.stderr.split())
    assert "docker:node and local:docker need Docker" in message
    assert "start it with" in message
    assert "or run without Docker: --builder exec:node --runner local:exec" in message
    assert run.run_dir is None  # refused before anything was built or started


@requires_docker
@pytest.mark.root
def test_docker_manifest_runs_as_it_is_where_docker_runs(choreo: Choreo) -> None:
    prepared_images()
    run = choreo(
        "run", "single", "--plan", TG_JS, "--case", "barrier", "-i", "3", "--tp", "rounds=2",
        timeout=600,
    )  # fmt: skip
    assert_all_succeeded(run, 3)
    assert run.record["builds"]["single"]["builder"] == "docker:node"
    assert run.record["spec"]["runner"] == "local:docker"


def test_signal_entry_and_barrier_across_five_instances(choreo: Choreo) -> None:
    run = run_case(choreo, "barrier", 5, "--tp", "rounds=4")
    assert_all_succeeded(run, 5)
    seqs = set()
    for i in range(5):
        messages = run.messages(f"single/{i}")
        seqs |= {int(m.split(": ")[1]) for m in messages if m.startswith("my sequence ID")}
        assert "passed 4 barriers with 5 instances" in messages
    assert seqs == {1, 2, 3, 4, 5}  # signalEntry numbered every instance once
    assert run.record["builds"]["single"]["builder"] == "exec:node"


def test_late_subscribers_replay_the_whole_history_in_order(choreo: Choreo) -> None:
    run = run_case(choreo, "history", 5, "--tp", "messages=40")
    assert_all_succeeded(run, 5)
    digests = set()
    for i in range(5):
        [summary] = {m for m in run.messages(f"single/{i}") if m.startswith("history of")}
        assert summary.startswith("history of 200 messages, digest ")
        digests.add(summary)
    assert len(digests) == 1  # every instance saw the same 200 messages in the same order


def test_publish_subscribe_finds_every_peer(choreo: Choreo) -> None:
    run = run_case(choreo, "pubsub", 5)
    assert_all_succeeded(run, 5)
    places = set()
    for i in range(5):
        [found] = {m for m in run.messages(f"single/{i}") if m.startswith("found")}
        match = re.fullmatch(r"found 5 peers; I am #(\d)", found)
        assert match, found
        places.add(int(match[1]))
    assert places == {1, 2, 3, 4, 5}  # publish numbered the announcements 1..5


def test_a_recorded_failure_counts_once_although_the_sdk_then_records_success(
    choreo: Choreo,
) -> None:
    run = run_case(choreo, "failure", 2)
    assert run.code == 1, run
    for outcome in run.instances.values():
        assert outcome["status"] == "failure"
        assert outcome["error"] == "Error: expected 54, got 42"
    assert run.table_row("single") == ["0/2", "2", "0", "0"]
    # Identical failures print once, with the count and every instance named.
    assert re.search(r"single/[01] failure: Error: expected 54, got 42", run.stdout)
    assert "2 the same failure" in run.stdout
    # Each instance did report success after its failure, on both channels.
    assert {"success_event": {"group": "single"}} in run.events("single/0")


def test_an_error_thrown_by_the_case_is_a_failure(choreo: Choreo) -> None:
    run = run_case(choreo, "thrown", 2)
    assert run.code == 1, run
    for outcome in run.instances.values():
        assert outcome["status"] == "failure"
        assert outcome["error"] == "Error: intentional oops"
        # A one-argument case has no sync client: stdout is the only channel.
        assert outcome["decided_by"] == "stdout"
    assert run.table_row("single") == ["0/2", "2", "0", "0"]


def test_crashes_are_counted_as_crashes_and_survivors_as_successes(choreo: Choreo) -> None:
    run = run_case(choreo, "crash", 5)
    assert run.code == 1, run
    assert run.table_row("single") == ["2/5", "0", "3", "0"]
    outcomes = run.instances.values()
    assert sorted(o["status"] for o in outcomes) == ["crash"] * 3 + ["success"] * 2
    silent = [o for o in outcomes if o["decided_by"] == "exit"]
    assert len(silent) == 2  # the timer exception and the unhandled rejection
    for outcome in silent:
        assert outcome["status"] == "crash" and outcome["returncode"] == 1
        assert outcome["error"] == "exited without an outcome event (exit status 1)"
    [recorded] = [o for o in outcomes if o["error"] == "Error: state is corrupt"]
    assert recorded["status"] == "crash" and recorded["returncode"] == 3
    assert recorded["decided_by"] in ("stdout", "sync")
    # What the user sees: Node's own last words, and the recorded crash's stack trace.
    assert "Error: boom in a timer" in run.stdout
    assert "Error: nobody handled this rejection" in run.stdout
    assert "crash.js" in run.stdout


def test_recorded_messages_reach_run_out_and_the_terminal(choreo: Choreo) -> None:
    run = run_case(choreo, "output", 1, "--messages")
    assert_all_succeeded(run, 1)
    messages = run.messages("single/0")
    assert "Hello, World." in messages
    assert 'quotes " and unicode \u2713 survive' in messages
    assert "single/0: Hello, World." in run.stdout


def test_typed_params_come_from_the_composition(choreo: Choreo) -> None:
    run = choreo("run", "composition", "-f", str(JS_PLANS / "params.toml"), *FLAGS)
    assert run.code == 0, run
    assert run.table_row("defaults") == ["2/2", "0", "0", "0"]
    assert run.table_row("custom") == ["2/2", "0", "0", "0"]

    def params_of(key: str) -> object:
        [text] = {m for m in run.messages(key) if m.startswith("params ")}
        return json.loads(text.removeprefix("params "))

    greeting = "hello, everyone"  # [global.run] test_params reach every group
    defaults = {
        "count": 3,
        "ratio": 0.25,
        "verbose": False,
        "greeting": greeting,
        "interval": "1500ms",
        "layout": {"rows": 2, "cols": [1, 2]},
    }
    custom = {
        "count": 7,
        "ratio": 0.75,
        "verbose": True,
        "greeting": greeting,
        "interval": "2m30s",
        "layout": {"rows": 3, "cols": []},
    }
    for i in range(2):
        assert params_of(f"defaults/{i}") == defaults
        assert params_of(f"custom/{i}") == custom


def test_a_param_of_the_wrong_type_is_refused_with_its_place(choreo: Choreo) -> None:
    bad = JS_PLANS / "bad-params.toml"
    run = choreo("run", "composition", "-f", str(bad), *FLAGS)
    assert run.code == 2, run
    message = " ".join(run.stderr.split())
    assert "bad-params.toml" in message and "count" in message
    assert "expected an integer" in message and "'seven'" in message
    assert run.run_dir is None


def test_a_manifest_enabling_exec_node_runs_without_flags(choreo: Choreo) -> None:
    run = choreo("run", "single", "--plan", JS_NATIVE, "--case", "ring", "-i", "3")
    assert_all_succeeded(run, 3)
    for i in range(3):
        assert "everyone is here: 3 of 3" in run.messages(f"single/{i}")


def test_an_install_failure_shows_npms_error_and_the_plan(choreo: Choreo, tmp_path: Path) -> None:
    plan = tmp_path / "broken-js"
    plan.mkdir()
    (plan / "manifest.toml").write_text(
        'name = "broken-js"\n[defaults]\nbuilder = "exec:node"\nrunner = "local:exec"\n'
        '[builders."exec:node"]\n[runners."local:exec"]\n'
        '[[testcases]]\nname = "any"\ninstances = { min = 1, max = 1, default = 1 }\n'
    )
    failing = "node -e \"console.error('libsodium.so.23: cannot open'); process.exit(1)\""
    package = {"name": "broken-js", "version": "1.0.0", "scripts": {"postinstall": failing}}
    (plan / "package.json").write_text(json.dumps(package))
    (plan / "index.js").write_text("")
    run = choreo("run", "single", "--plan", str(plan), "--case", "any")
    assert run.code == 3, run
    message = " ".join(run.stderr.split())
    assert "build failed: plan 'broken-js' (groups single): `npm install" in message
    assert "libsodium.so.23: cannot open" in message and "npm error" in message
    assert not (run.run_dir and run.record.get("outcome"))  # no instance was started
