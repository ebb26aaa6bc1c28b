"""sdk-go plans, taken as they are, run with no flags and get the right outcomes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import PLANS, GoChoreo

OUTCOMES = str(PLANS / "outcomes")


def _statuses(record: dict[str, object]) -> list[str]:
    outcome = record["outcome"]
    assert isinstance(outcome, dict)
    return sorted(i["status"] for i in outcome["instances"].values())


def test_success_without_flags_and_no_rebuild(go_choreo: GoChoreo) -> None:
    proc = go_choreo("run", "single", "--plan", OUTCOMES, "--case", "success", "-i", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    first = go_choreo.last_run()
    assert _statuses(first) == ["success", "success"]
    modules = first["builds"]["single"]["provenance"]["modules"]
    assert any(
        m.startswith("github.com/testground/sdk-go v0.3.1-0.20211012114808-49c90fa75405")
        for m in modules
    )
    # the messages sdk-go logs come through
    out = (Path(first["_dir"]) / "single" / "0" / "run.out").read_text()
    assert "hello from group single" in out
    # unchanged plan: the second run reuses the build
    proc = go_choreo("run", "single", "--plan", OUTCOMES, "--case", "success", "-i", "1")
    assert proc.returncode == 0
    second = go_choreo.last_run()
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
def test_outcomes(go_choreo: GoChoreo, case: str, status: str, text: str) -> None:
    proc = go_choreo("run", "single", "--plan", OUTCOMES, "--case", case, "-i", "2")
    assert proc.returncode == 1
    record = go_choreo.last_run()
    assert _statuses(record) == [status, status]
    instances = record["outcome"]["instances"].values()
    # sdk-go puts the goroutine's stack in the crash event and the panic message on stderr
    assert all(text in (i["error"] + i.get("stderr_tail", "")) for i in instances)
    groups = record["outcome"]["groups"][0]
    assert groups["ok"] == 0 and groups["total"] == 2


def test_signal_and_barrier_across_ten(go_choreo: GoChoreo) -> None:
    proc = go_choreo("run", "single", "--plan", OUTCOMES, "--case", "barrier", "-i", "10")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _statuses(go_choreo.last_run()) == ["success"] * 10


def test_publish_subscribe_with_history_replay(go_choreo: GoChoreo) -> None:
    proc = go_choreo("run", "single", "--plan", OUTCOMES, "--case", "pubsub", "-i", "4")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_metrics_files_written_by_sdk_go(go_choreo: GoChoreo) -> None:
    proc = go_choreo("run", "single", "--plan", OUTCOMES, "--case", "metrics", "-i", "1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    outputs = Path(go_choreo.last_run()["_dir"]) / "single" / "0"
    points = [json.loads(line) for line in (outputs / "results.out").read_text().splitlines()]
    latency = [p["measures"]["value"] for p in points if p["name"] == "latency_ms"]
    assert latency == [float(10 + i) for i in range(10)]
    assert "queue_depth" in (outputs / "diagnostics.out").read_text()
    # ...and read into Choreograph's metrics tables like the Python SDK's
    from choreograph.results import load

    table = load(Path(go_choreo.last_run()["_dir"])).metrics
    latency_rows = table[table["name"] == "latency_ms"]
    assert sorted(latency_rows["value"]) == [float(10 + i) for i in range(10)]
    assert set(latency_rows["group"]) == {"single"}
    assert "queue_depth" in set(table["name"])
    proc = go_choreo("results", go_choreo.last_run()["run_id"], "--metric", "latency_ms")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "latency_ms" in proc.stdout and "14.5" in proc.stdout  # the mean of 10..19


def test_typed_params_and_selectors_per_group(go_choreo: GoChoreo, tmp_path: Path) -> None:
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
    proc = go_choreo("run", "composition", "-f", str(composition))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    record = go_choreo.last_run()
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
    proc = go_choreo("run", "composition", "-f", str(params))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_compile_error_fails_before_any_instance(go_choreo: GoChoreo, tmp_path: Path) -> None:
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(OUTCOMES, broken)
    (broken / "oops.go").write_text('package main\n\nfunc oops() int { return "no" }\n')
    proc = go_choreo("run", "single", "--plan", str(broken), "--case", "success", "-i", "1")
    assert proc.returncode == 3
    assert "plan 'go-outcomes'" in proc.stderr and "oops.go" in proc.stderr
    assert "go build" in proc.stderr


def test_missing_module_version_names_group_and_dependency(
    go_choreo: GoChoreo, tmp_path: Path
) -> None:
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
    proc = go_choreo("run", "composition", "-f", str(composition))
    assert proc.returncode == 3
    assert "groups pinned" in proc.stderr
    assert "github.com/google/uuid" in proc.stderr and "v9.9.9" in proc.stderr


def test_two_groups_on_two_versions_of_one_module(go_choreo: GoChoreo) -> None:
    composition = PLANS / "versions" / "composition.toml"
    proc = go_choreo("run", "composition", "-f", str(composition))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    record = go_choreo.last_run()
    assert {g["group"]: g["ok"] for g in record["outcome"]["groups"]} == {"old": 2, "new": 2}
    for group, version in (("old", "v0.8.1"), ("new", "v0.9.1")):
        modules = record["builds"][group]["provenance"]["modules"]
        line = next(m for m in modules if m.startswith("github.com/pkg/errors"))
        assert line.endswith(version), line
