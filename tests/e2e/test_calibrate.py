"""`choreo calibrate` on real runs: it drives a plan's knob to a CPU target, records the
trajectory, and `--tp knob=@calibrated` runs with the converged value; a plan that ignores
its knob fails clearly."""

from __future__ import annotations

import json
import statistics
import subprocess
from pathlib import Path
from typing import Any

from tests.timing import measure

from choreograph.results.metrics import read_run

from .conftest import Choreo

PLAN = str(Path(__file__).parent / "plans" / "calibrate")


def calibrate(choreo: Choreo, *args: str) -> subprocess.CompletedProcess[str]:
    return choreo(
        "calibrate", "--plan", PLAN, "-i", "1", "--knob", "sleep_ms", *args, timeout=300
    )  # fmt: skip


def record(choreo: Choreo) -> dict[str, Any]:
    folder = choreo.home / "calibrations"
    found: dict[str, Any] = json.loads(sorted(folder.glob("c-*.json"))[-1].read_text())
    return found


def cpu_without_first_sample(run_dir: Path) -> float:
    rows = sorted(
        (r for r in read_run(run_dir, ["single"], kinds=("resources",)) if r.name == "cpu_percent"),
        key=lambda r: r.ts,
    )
    return statistics.fmean(r.value for r in rows[1:])


def test_calibrate_converges_and_the_value_feeds_a_run(choreo: Choreo) -> None:
    # A busy host moves a CPU share a lot: calibrate again only when it was busy.
    taken = measure(
        lambda: calibrate(choreo, "--case", "burn", "--target", "50", "--tolerance", "5"),
        lambda proc: proc.returncode == 0,
    )
    proc = taken.value
    assert proc.returncode == 0, f"{taken}\n{proc.stdout}{proc.stderr}"
    out = " ".join(proc.stdout.split())
    found = record(choreo)
    iterations = found["iterations"]
    assert found["status"] == "converged" and 1 <= len(iterations) <= 12
    # One printed line and one run per iteration; each measurement is the run's CPU
    # samples after the first, and the error is target - measured.
    for n, it in enumerate(iterations, 1):
        assert f"{n} sleep_ms={it['text']} → cpu_percent" in out
        measured = cpu_without_first_sample(choreo.home / "runs" / it["run_id"])
        assert abs(it["measured"] - measured) < 1e-9
        assert abs(it["error"] - (50 - measured)) < 1e-9
    last = iterations[-1]
    assert abs(last["measured"] - 50) <= 5 and found["value"] == last["knob"]
    assert f"converged: sleep_ms={last['text']}" in out
    latest = choreo.home / "calibrations" / "calibrate" / "burn" / "sleep_ms.json"
    assert json.loads(latest.read_text())["text"] == last["text"]

    run = choreo("run", "single", "--plan", PLAN, "--case", "burn", "--tp", "sleep_ms=@calibrated")
    assert run.returncode == 0, run.stdout + run.stderr
    assert choreo.last_run()["spec"]["groups"][0]["params"]["sleep_ms"] == last["text"]


def test_a_knob_the_plan_ignores_does_not_converge(choreo: Choreo) -> None:
    proc = calibrate(
        choreo, "--case", "deaf", "--target", "60", "--tolerance", "2", "--max", "40",
        "--iterations", "6",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = " ".join(proc.stdout.split())
    found = record(choreo)
    assert found["status"] in ("out-of-range", "max-iterations"), found["reason"]
    assert f"did not converge ({found['status']})" in out
    last = found["iterations"][-1]
    assert f"last: sleep_ms={last['text']} → cpu_percent" in out
    assert all(abs(it["error"]) > 2 for it in found["iterations"])
    assert not (choreo.home / "calibrations" / "calibrate").exists()  # no value to reuse


def test_calibrated_without_a_calibration_and_bad_settings_are_refused(choreo: Choreo) -> None:
    run = choreo("run", "single", "--plan", PLAN, "--case", "burn", "--tp", "sleep_ms=@calibrated")
    assert run.returncode == 2
    assert "no calibration of knob 'sleep_ms' for plan calibrate case burn" in run.stderr
    assert "choreo calibrate" in run.stderr
    bad = calibrate(choreo, "--case", "burn", "--target", "50", "--tolerance", "0")
    assert bad.returncode == 2 and "--tolerance must be > 0" in bad.stderr
    not_number = calibrate(choreo, "--case", "burn", "--target", "50", "--tp", "sleep_ms=3")
    assert not_number.returncode == 2 and "give its first value as --start" in not_number.stderr
    assert choreo.runs() == []


def test_calibrate_a_composition_with_knob_groups(choreo: Choreo, tmp_path: Path) -> None:
    metrics = Path(__file__).parents[2] / "examples" / "metrics"
    file = tmp_path / "two.toml"
    file.write_text(
        f'[global]\nplan = "{metrics}"\ncase = "noisy"\n\n'
        '[global.run]\ntest_params = { sd = "0", samples = "5" }\n\n'
        '[[groups]]\nid = "fixed"\ninstances = { count = 1 }\n'
        '[groups.run]\ntest_params = { mean = "40" }\n\n'
        '[[groups]]\nid = "driven"\ninstances = { count = 1 }\n'
    )
    args = ("calibrate", "-f", str(file), "--knob", "mean", "--metric", "value")
    proc = choreo(*args, "--knob-group", "driven", "--group", "driven", "--target", "150")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = record(choreo)
    assert found["status"] == "converged" and abs(found["value"] - 150) <= 1.5
    assert found["settings"]["knob_groups"] == ["driven"]
    last = choreo.home / "runs" / found["iterations"][-1]["run_id"]
    fixed = [r.value for r in read_run(last, ["fixed"]) if r.name == "value"]
    assert set(fixed) == {40.0}  # only the driven group's knob moved
    # Without --knob-group every group gets the knob: the mean of both is the target.
    both = choreo(*args, "--target", "150")
    assert both.returncode == 0, both.stdout + both.stderr
    assert abs(record(choreo)["value"] - 150) <= 1.5
    mixed = choreo(*args, "--plan", "metrics", "--target", "1")
    assert mixed.returncode == 2 and "either --plan and --case, or a composition" in mixed.stderr
    nothing = choreo("calibrate", "--knob", "mean", "--target", "1")
    assert nothing.returncode == 2 and "give --plan and --case" in nothing.stderr
