"""sdk-go plans, taken as they are, run with no flags and get the right outcomes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ..conftest import Choreo
from .conftest import PLANS

OUTCOMES = str(PLANS / "outcomes")
VERSIONS = PLANS / "versions" / "composition.toml"

# sdk-go's module download and first compile take minutes cold: done once, before the
# tests (tests/prebuild.py); other builds of the plan reuse the module and build caches.
pytestmark = pytest.mark.prebuilt("single", "--plan", OUTCOMES, tools=("go",))


def _statuses(record: dict[str, object]) -> list[str]:
    outcome = record["outcome"]
    assert isinstance(outcome, dict)
    return sorted(i["status"] for i in outcome["instances"].values())


def test_success_without_flags_and_no_rebuild(choreo: Choreo) -> None:
    run = choreo("run", "single", "--plan", OUTCOMES, "--case", "success", "-i", "2", timeout=600)
    assert run.code == 0, str(run)
    first, first_dir = run.record, run.run_dir
    assert first_dir is not None
    assert _statuses(first) == ["success", "success"]
    assert first["builds"]["single"]["from_cache"] is True  # built before the tests
    modules = first["builds"]["single"]["provenance"]["modules"]
    assert any(
        m.startswith("github.com/testground/sdk-go v0.3.1-0.20211012114808-49c90fa75405")
        for m in modules
    )
    # the messages sdk-go logs come through
    out = (first_dir / "single" / "0" / "run.out").read_text()
    assert "hello from group single" in out
    # unchanged plan: the second run reuses the build
    run = choreo("run", "single", "--plan", OUTCOMES, "--case", "success", "-i", "1", timeout=600)
    assert run.code == 0
    second = run.record
    assert second["builds"]["single"]["from_cache"] is True
    assert second["builds"]["single"]["build_id"] == first["builds"]["single"]["build_id"]


@pytest.mark.parametrize(
    ("case", "status", "text"),
    [
        ("failure", "failure", "the system under test answered 503"),
        ("panic", "crash", "boom in the test goroutine"),
        ("child-panic", "crash", "boom in a child goroutine"),
        ("silent-exit", "crash", "exit status 3"),
    ],
)
def test_outcomes(choreo: Choreo, case: str, status: str, text: str) -> None:
    run = choreo("run", "single", "--plan", OUTCOMES, "--case", case, "-i", "2", timeout=600)
    assert run.code == 1
    record = run.record
    assert _statuses(record) == [status, status]
    instances = record["outcome"]["instances"].values()
    # sdk-go puts the goroutine's stack in the crash event and the panic message on stderr
    assert all(text in (i["error"] + i.get("stderr_tail", "")) for i in instances)
    groups = record["outcome"]["groups"][0]
    assert groups["ok"] == 0 and groups["total"] == 2


def test_signal_and_barrier_across_ten(choreo: Choreo) -> None:
    run = choreo("run", "single", "--plan", OUTCOMES, "--case", "barrier", "-i", "10", timeout=600)
    assert run.code == 0, str(run)
    assert _statuses(run.record) == ["success"] * 10


def test_publish_subscribe_with_history_replay(choreo: Choreo) -> None:
    run = choreo("run", "single", "--plan", OUTCOMES, "--case", "pubsub", "-i", "4", timeout=600)
    assert run.code == 0, str(run)


def test_metrics_files_written_by_sdk_go(choreo: Choreo) -> None:
    run = choreo("run", "single", "--plan", OUTCOMES, "--case", "metrics", "-i", "1", timeout=600)
    assert run.code == 0, str(run)
    assert run.run_dir is not None
    outputs = run.run_dir / "single" / "0"
    points = [json.loads(line) for line in (outputs / "results.out").read_text().splitlines()]
    latency = [p["measures"]["value"] for p in points if p["name"] == "latency_ms"]
    assert latency == [float(10 + i) for i in range(10)]
    assert "queue_depth" in (outputs / "diagnostics.out").read_text()
    # ...and read into Choreograph's metrics tables like the Python SDK's
    from choreograph.results import load

    table = load(run.run_dir).metrics
    latency_rows = table[table["name"] == "latency_ms"]
    assert sorted(latency_rows["value"]) == [float(10 + i) for i in range(10)]
    assert set(latency_rows["group"]) == {"single"}
    assert "queue_depth" in set(table["name"])
    run = choreo("results", run.record["run_id"], "--metric", "latency_ms", timeout=600)
    assert run.code == 0, str(run)
    assert "latency_ms" in run.stdout and "14.5" in run.stdout  # the mean of 10..19


def test_typed_params_and_selectors_per_group(choreo: Choreo, tmp_path: Path) -> None:
    composition = tmp_path / "variants.toml"
    composition.write_text(f"""
[metadata]
name = "go variants"

[global]
plan = "{OUTCOMES}"
case = "variant"
total_instances = 4
builder = "exec:go"
runner = "local:exec"

[[groups]]
id = "tagged"
instances = {{ count = 2 }}
  [groups.build]
  selectors = ["choreo_tagged"]
  [groups.run]
  test_params = {{ variant = "tagged" }}

[[groups]]
id = "plain"
instances = {{ count = 2 }}
  [groups.run]
  test_params = {{ variant = "plain" }}
""")
    run = choreo("run", "composition", "-f", str(composition), timeout=600)
    assert run.code == 0, str(run)
    record = run.record
    builds = record["builds"]
    assert builds["tagged"]["build_id"] != builds["plain"]["build_id"]
    assert builds["tagged"]["provenance"]["tags"] == ["choreo_tagged"]

    params = tmp_path / "params.toml"
    # sdk-go (like sdk-js) drops a param whose value contains '=', so none here does
    params.write_text(f"""
[global]
plan = "{OUTCOMES}"
case = "params"
total_instances = 2

[[groups]]
id = "a"
instances = {{ count = 1 }}
  [groups.run]
  [groups.run.test_params]
  count = "7"
  flag = "true"
  word = "x"
  shape = '{{"rows": 2, "cols": [1, 2]}}'
  expect = "count:7 ratio:0.50 flag:true word:x shape:2/[1 2] group:a"

[[groups]]
id = "b"
instances = {{ count = 1 }}
  [groups.run]
  [groups.run.test_params]
  ratio = "0.25"
  expect = "count:3 ratio:0.25 flag:false word:hi shape:1/[1] group:b"
""")
    run = choreo("run", "composition", "-f", str(params), timeout=600)
    assert run.code == 0, str(run)


def test_compile_error_fails_before_any_instance(choreo: Choreo, tmp_path: Path) -> None:
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(OUTCOMES, broken)
    (broken / "oops.go").write_text('package main\n\nfunc oops() int { return "no" }\n')
    run = choreo(
        "run", "single", "--plan", str(broken), "--case", "success", "-i", "1", timeout=600
    )
    assert run.code == 3
    assert "plan 'go-outcomes'" in run.stderr and "oops.go" in run.stderr
    assert "go build" in run.stderr


def test_missing_module_version_names_group_and_dependency(choreo: Choreo, tmp_path: Path) -> None:
    composition = tmp_path / "bad-dep.toml"
    composition.write_text(f"""
[global]
plan = "{OUTCOMES}"
case = "success"
total_instances = 1

[[groups]]
id = "pinned"
instances = {{ count = 1 }}
  [groups.build]
  dependencies = [{{ module = "github.com/google/uuid", version = "v9.9.9" }}]
""")
    run = choreo("run", "composition", "-f", str(composition), timeout=600)
    assert run.code == 3
    assert "groups pinned" in run.stderr
    assert "github.com/google/uuid" in run.stderr and "v9.9.9" in run.stderr


@pytest.mark.prebuilt("composition", "-f", str(VERSIONS), tools=("go",))
def test_two_groups_on_two_versions_of_one_module(choreo: Choreo) -> None:
    run = choreo("run", "composition", "-f", str(VERSIONS), timeout=600)
    assert run.code == 0, str(run)
    record = run.record
    assert {g["group"]: g["ok"] for g in record["outcome"]["groups"]} == {"old": 2, "new": 2}
    for group, version in (("old", "v0.8.1"), ("new", "v0.9.1")):
        modules = record["builds"][group]["provenance"]["modules"]
        line = next(m for m in modules if m.startswith("github.com/pkg/errors"))
        assert line.endswith(version), line
