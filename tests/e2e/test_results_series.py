"""Repeated runs (--repeat, --until-stable) and `choreo compare`, on real runs."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

from scipy import stats

from choreograph.results.metrics import metric_samples

from .conftest import EXAMPLES, Choreo

PLAN = str(EXAMPLES / "metrics")


def series_record(choreo: Choreo) -> dict[str, Any]:
    folders = sorted((choreo.home / "series").iterdir())
    record: dict[str, Any] = json.loads((folders[-1] / "series.json").read_text())
    return record


def t_half_width(values: list[float], confidence: float) -> float:
    n = len(values)
    return float(stats.t.ppf((1 + confidence) / 2, n - 1)) * statistics.stdev(values) / n**0.5


def test_until_stable_stops_by_itself_on_a_noisy_metric(choreo: Choreo) -> None:
    proc = choreo(
        "run", "single", "--plan", PLAN, "--case", "noisy", "-i", "2",
        "--tp", "sd=30", "--tp", "samples=50",
        "--until-stable", "value", "--rel-ci", "0.03", "--max-runs", "40",
        timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    record = series_record(choreo)
    runs = record["runs"]
    assert record["status"] == "stable", record["stop_reason"]
    assert 3 <= len(runs) < 40
    assert len(choreo.runs()) == len(runs)

    # Each per-run mean is the mean of that run's 100 recorded values.
    means = []
    for run in runs:
        values = metric_samples(choreo.home / "runs" / run["run_id"], ["single"], "value")
        assert len(values) == 100
        assert run["mean"] == statistics.fmean(values)
        means.append(run["mean"])
    # The interval it reports is the Student-t interval of those means, within 3%, ...
    interval = record["interval"]
    assert interval["n"] == len(means)
    assert interval["mean"] == statistics.fmean(means)
    assert math.isclose(interval["half_width"], t_half_width(means, 0.95), rel_tol=1e-9)
    assert interval["half_width"] <= 0.03 * abs(interval["mean"])
    # ... and it stopped at the first run where that held (after the minimum of 3).
    for n in range(3, len(means)):
        assert t_half_width(means[:n], 0.95) > 0.03 * abs(statistics.fmean(means[:n]))
    normal = record["normality"]
    assert normal["test"] == "Shapiro-Wilk"
    assert math.isclose(normal["p"], stats.shapiro(means).pvalue, rel_tol=1e-9)
    out = " ".join(proc.stdout.split())
    assert f"{len(runs)} runs" in out and "Shapiro-Wilk" in out and "95% CI [" in out


def test_until_stable_gives_up_at_max_runs(choreo: Choreo) -> None:
    proc = choreo(
        "run", "single", "--plan", PLAN, "--case", "noisy", "-i", "1",
        "--until-stable", "value", "--rel-ci", "0.0001", "--max-runs", "3",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    record = series_record(choreo)
    assert record["status"] == "max-runs" and len(record["runs"]) == 3
    assert "max-runs" in proc.stdout


def test_repeat_series_and_its_report(choreo: Choreo, tmp_path: Path) -> None:
    proc = choreo("run", "single", "--plan", PLAN, "--case", "noisy", "-i", "1", "--repeat", "3")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    record = series_record(choreo)
    assert record["status"] == "done" and len(record["runs"]) == 3
    report = tmp_path / "series.html"
    made = choreo("report", record["series_id"][:12], "-o", str(report))
    assert made.returncode == 0, made.stderr
    text = report.read_text()
    assert all(run["run_id"] in text for run in record["runs"])
    assert "Series" in text and "data:image/png;base64," not in text  # no metric followed


def test_a_failed_run_stops_the_series(choreo: Choreo) -> None:
    proc = choreo(
        "run", "single", "--plan", PLAN, "--case", "noisy", "-i", "2",
        "--tp", "fail_index=0", "--repeat", "5",
    )  # fmt: skip
    assert proc.returncode == 1
    record = series_record(choreo)
    assert record["status"] == "failed" and len(record["runs"]) == 1


def run_dir(choreo: Choreo, *tp: str, case: str = "work", instances: int = 2) -> str:
    flags = [x for p in tp for x in ("--tp", p)]
    proc = choreo("run", "single", "--plan", PLAN, "--case", case, "-i", str(instances), *flags)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return choreo.runs()[-1].name


def test_compare_tells_a_real_difference(choreo: Choreo, tmp_path: Path) -> None:
    # Runs are compared by per-instance means: enough instances make enough replicates.
    a = run_dir(choreo, "delay=2ms", "ops=60", instances=5)
    b = run_dir(choreo, "delay=6ms", "ops=60", instances=5)
    html = tmp_path / "cmp.html"
    proc = choreo("compare", a, b, "--metric", "op_time", "-o", str(html))
    assert proc.returncode == 0, proc.stderr
    out = " ".join(proc.stdout.split())
    assert "verdict: B is significantly higher than A" in out
    relative = float(out.split("relative ")[1].split("%")[0])
    assert 50 < relative < 400  # 2 ms → 6 ms sleeps
    assert "Welch" in out and "Mann-Whitney" in out
    text = html.read_text()
    assert "significantly higher" in text and "data:image/png;base64," in text

    plot = choreo("compare", a, b, "--metric", "op_time")
    png = Path(" ".join(plot.stdout.split()).split("plot: ")[1].replace(" ", ""))
    assert png.is_file() and png.read_bytes()[:4] == b"\x89PNG"


def test_compare_finds_no_difference_between_runs_of_the_same_version(choreo: Choreo) -> None:
    # Both runs draw from one distribution. The seeds are fixed so the verdict is
    # reproducible: with fresh random draws any test at alpha 0.05 says "different" in 5%
    # of the cases, by definition.
    a = run_dir(choreo, "samples=300", "seed=11", case="noisy")
    b = run_dir(choreo, "samples=300", "seed=12", case="noisy")
    proc = choreo("compare", a, b, "--metric", "value")
    assert proc.returncode == 0, proc.stderr
    out = " ".join(proc.stdout.split())
    assert "verdict: no significant difference between A and B" in out
    assert "n = 600 samples" in out  # 2 instances a side: too few replicates, said so
    assert "note: this test assumes the samples are independent" in out


def test_compare_two_groups_of_one_run(choreo: Choreo, tmp_path: Path) -> None:
    comp = tmp_path / "two.toml"
    comp.write_text(
        f'[global]\nplan = "{PLAN}"\ncase = "work"\n'
        '[[groups]]\nid = "fast"\ninstances = { count = 1 }\n'
        '[groups.run.test_params]\ndelay = "2ms"\nops = "60"\n'
        '[[groups]]\nid = "slow"\ninstances = { count = 1 }\n'
        '[groups.run.test_params]\ndelay = "5ms"\nops = "60"\n'
    )
    assert choreo("run", "composition", "-f", str(comp)).returncode == 0
    run = choreo.runs()[-1].name
    proc = choreo("compare", run, "--groups", "fast", "slow", "--metric", "op_time")
    out = " ".join(proc.stdout.split())
    assert proc.returncode == 0, proc.stderr
    assert f"A: {run}:fast n = 60 samples" in out
    assert "significantly higher" in out
    assert "note: this test assumes the samples are independent" in out  # one instance each


def test_compare_two_series_uses_per_run_means(choreo: Choreo) -> None:
    ids = []
    for mean in ("100", "130"):
        proc = choreo(
            "run", "single", "--plan", PLAN, "--case", "noisy", "-i", "1",
            "--tp", f"mean={mean}", "--repeat", "3",
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr
        ids.append(series_record(choreo)["series_id"])
    proc = choreo("compare", *ids, "--metric", "value")
    out = " ".join(proc.stdout.split())
    assert proc.returncode == 0, proc.stderr
    assert "n = 3 per-run means" in out and "significantly higher" in out
    mixed = choreo("compare", ids[0], choreo.runs()[-1].name, "--metric", "value")
    assert mixed.returncode == 2 and "compare two runs or two series" in mixed.stderr
