"""Every example, run through the CLI as a user types it."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

from .conftest import EXAMPLES, Choreo


def test_sync_example_fifty_instances(choreo: Choreo) -> None:
    proc = choreo("run", "single", "--plan", str(EXAMPLES / "sync"), "--case", "all", "-i", "50")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "50/50" in proc.stdout and "succeeded" in proc.stdout
    record = choreo.last_run()
    assert record["status"] == "success"
    assert record["outcome"]["groups"] == [
        {"group": "single", "total": 50, "ok": 50, "failed": 0, "crashed": 0, "stopped": 0}
    ]
    run_dir = choreo.runs()[-1]
    for index in range(50):
        instance = run_dir / "single" / str(index)
        assert (instance / "run.out").is_file() and (instance / "run.err").is_file()
        lines = (instance / "run.out").read_text().splitlines()
        assert any('"success_event"' in line for line in lines)


def test_sync_cases_separately(choreo: Choreo) -> None:
    for case in ("barrier", "fanin"):
        proc = choreo("run", "single", "--plan", str(EXAMPLES / "sync"), "--case", case, "-i", "8")
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_pingpong_records_round_trips(choreo: Choreo) -> None:
    proc = choreo("run", "single", "--plan", str(EXAMPLES / "pingpong"), "--case", "pingpong")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rtt_files = list(choreo.runs()[-1].glob("single/*/rtt.json"))
    assert len(rtt_files) == 1
    rtts = json.loads(rtt_files[0].read_text())["rtt_s"]
    assert len(rtts) == 20 and all(0 < r < 1 for r in rtts)


def test_pingpong_enforces_instance_limits(choreo: Choreo) -> None:
    proc = choreo(
        "run", "single", "--plan", str(EXAMPLES / "pingpong"), "--case", "pingpong", "-i", "3"
    )
    assert proc.returncode == 2
    assert "expected 2 to 2 instances" in proc.stderr and "found 3" in proc.stderr
    assert "manifest.toml:14" in proc.stderr


def test_params_defaults_and_overrides(choreo: Choreo) -> None:
    plan = str(EXAMPLES / "params")
    proc = choreo("run", "single", "--plan", plan, "--case", "typed")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    seen = json.loads(next(choreo.runs()[-1].glob("single/0/params.json")).read_text())
    assert seen == {
        "count": 3,
        "ratio": 0.25,
        "verbose": False,
        "greeting": "hello",
        "interval_s": 1.5,
        "layout": {"rows": 2, "cols": [1, 2]},
        "label": None,
    }
    proc = choreo(
        "run",
        "single",
        "--plan",
        plan,
        "--case",
        "typed",
        "--tp",
        "count=7",
        "--tp",
        "verbose=true",
        "--tp",
        "interval=2m",
        "--tp",
        "label=x",
        "--tp",
        'layout=[1, "a"]',
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    seen = json.loads(next(choreo.runs()[-1].glob("single/0/params.json")).read_text())
    assert (seen["count"], seen["verbose"], seen["interval_s"], seen["label"], seen["layout"]) == (
        7,
        True,
        120.0,
        "x",
        [1, "a"],
    )


def test_bad_param_is_a_precise_input_error(choreo: Choreo) -> None:
    proc = choreo(
        "run", "single", "--plan", str(EXAMPLES / "params"), "--case", "typed", "--tp", "count=ten"
    )
    assert proc.returncode == 2
    assert "count" in proc.stderr and "ten" in proc.stderr and "int" in proc.stderr
    assert not choreo.runs(), "no run may start with invalid params"


def test_collect_archives_the_run(choreo: Choreo, tmp_path: Path) -> None:
    proc = choreo("run", "single", "--plan", str(EXAMPLES / "sync"), "--case", "barrier", "-i", "3")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_id = choreo.runs()[-1].name
    archive = tmp_path / "out.tgz"
    proc = choreo("collect", run_id[:15], "-o", str(archive))
    assert proc.returncode == 0, proc.stderr
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert f"{run_id}/run.json" in names
    for index in range(3):
        assert f"{run_id}/single/{index}/run.out" in names
        assert f"{run_id}/single/{index}/run.err" in names
    proc = choreo("runs", "list")
    assert run_id in proc.stdout


def test_composition_with_two_groups(choreo: Choreo, tmp_path: Path) -> None:
    composition = tmp_path / "two-groups.toml"
    composition.write_text(f"""
[metadata]
name = "two groups"

[global]
plan = "{EXAMPLES / "sync"}"
case = "all"
total_instances = 6
builder = "exec:python"
runner = "local:exec"

[[groups]]
id = "left"
instances = {{ count = 2 }}
  [groups.run]
  test_params = {{ rounds = "2" }}

[[groups]]
id = "right"
instances = {{ count = 4 }}
  [groups.run]
  test_params = {{ rounds = "2" }}
""")
    proc = choreo("run", "composition", "-f", str(composition))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2/2" in proc.stdout and "4/4" in proc.stdout
    groups = {g["group"]: g["ok"] for g in choreo.last_run()["outcome"]["groups"]}
    assert groups == {"left": 2, "right": 4}
