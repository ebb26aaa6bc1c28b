"""Metrics, resource samples, tables and the HTML report, from real runs of examples/metrics."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from choreograph.results import load

from .conftest import EXAMPLES, REPO, Choreo

PLAN = str(EXAMPLES / "metrics")
ARTIFACTS = REPO / "test-artifacts"


def run_ok(choreo: Choreo, *args: str) -> Path:
    proc = choreo("run", "single", "--plan", PLAN, *args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return choreo.runs()[-1]


def composition(tmp_path: Path, case: str, run_config: str, groups: str) -> Path:
    path = tmp_path / "composition.toml"
    path.write_text(
        f'[global]\nplan = "{PLAN}"\ncase = "{case}"\nrun_config = {run_config}\n{groups}'
    )
    return path


def test_results_table_csv_parquet_and_load(choreo: Choreo, tmp_path: Path) -> None:
    run_dir = run_ok(choreo, "--case", "work", "-i", "3", "--tp", "ops=40", "--tp", "delay=1ms")
    table = choreo("results", run_dir.name)
    assert table.returncode == 0, table.stderr
    row = next(line for line in table.stdout.splitlines() if line.startswith("op_time"))
    cells = [c.strip() for c in row.split("│")]
    assert cells[:4] == ["op_time", "ms", "single", "120"]  # 3 instances x 40 operations
    assert 1.0 <= float(cells[4]) < 100  # mean of ≥ 1 ms sleeps
    ops = next(line for line in table.stdout.splitlines() if line.startswith("ops "))
    assert [c.strip() for c in ops.split("│")][3:5] == ["3", "40"]  # a counter: final totals

    csv = choreo("results", run_dir.name, "--metric", "payload", "--format", "csv")
    import pandas as pd

    frame = pd.read_csv(io.StringIO(csv.stdout))
    assert len(frame) == 120 and set(frame["name"]) == {"payload"}
    assert set(frame["instance"]) == {"single/0", "single/1", "single/2"}

    target = tmp_path / "m.parquet"
    choreo("results", run_dir.name, "--format", "parquet", "-o", str(target))
    parquet = pd.read_parquet(target)
    data = load(run_dir)
    assert len(parquet) == len(data.metrics) > 360
    assert list(data.outcomes["status"]) == ["success"] * 3
    assert set(data.events["kind"]) >= {"start", "success"}
    assert set(data.metrics["kind"]) == {"results", "diagnostics"}

    missing = choreo("results", run_dir.name, "--metric", "nope")
    assert missing.returncode == 1 and "no metric 'nope'" in missing.stdout


def test_metrics_survive_a_failing_instance(choreo: Choreo) -> None:
    proc = choreo(
        "run", "single", "--plan", PLAN, "--case", "noisy", "-i", "2",
        "--tp", "samples=5000", "--tp", "fail_index=1",
    )  # fmt: skip
    assert proc.returncode == 1
    data = load(choreo.runs()[-1])
    assert dict(zip(data.outcomes["instance"], data.outcomes["status"], strict=True)) == {
        "single/0": "success",
        "single/1": "failure",
    }
    assert data.metrics.groupby("instance").size().to_dict() == {
        "single/0": 5000,
        "single/1": 5000,
    }


def test_resources_are_sampled_at_the_configured_interval(choreo: Choreo, tmp_path: Path) -> None:
    groups = (
        '[[groups]]\nid = "busy"\ninstances = { count = 2 }\n'
        '[groups.run.test_params]\nops = "30"\ndelay = "10ms"\nbusy = "20ms"\n'
    )
    comp = composition(tmp_path, "work", '{ sample_interval = "200ms" }', groups)
    proc = choreo("run", "composition", "-f", str(comp))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    resources = load(choreo.runs()[-1]).resources
    per_instance = resources[resources["name"] == "cpu_percent"].groupby("instance")
    assert set(per_instance.groups) == {"busy/0", "busy/1"}
    assert per_instance.size().min() >= 3  # ~0.9 s of work sampled every 0.2 s
    assert per_instance["value"].max().min() > 20  # each burns ~2/3 of a core
    rss = resources[resources["name"] == "rss_bytes"]["value"]
    # Real figures, never a zero: a forked Python instance's own memory (what it wrote since
    # the fork, ~5 MB) or a whole interpreter's, depending on how it is counted here.
    assert rss.min() > 2e6 and set(resources["unit"]) == {"%", "B"}

    off = composition(tmp_path, "work", "{ sample_interval = 0 }", groups)
    assert choreo("run", "composition", "-f", str(off)).returncode == 0
    assert not list(choreo.runs()[-1].glob("*/*/resources.out"))


def screenshot(html: Path, png: Path) -> None:
    profile = tempfile.mkdtemp(prefix="chromium-")
    try:
        subprocess.run(
            [
                "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
                f"--screenshot={png}", "--window-size=1280,2000", html.resolve().as_uri(),
            ],
            capture_output=True, timeout=90, check=False,
        )  # fmt: skip
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def assert_not_blank(png: Path) -> None:
    from matplotlib import image

    assert png.is_file() and png.stat().st_size > 20_000, "screenshot missing or tiny"
    pixels = image.imread(str(png))
    assert pixels.shape[0] == 2000 and pixels.shape[1] == 1280
    assert float(pixels[..., :3].std()) > 0.05, "the page rendered blank"


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium")
def test_report_renders_in_headless_chromium(choreo: Choreo) -> None:
    proc = choreo(
        "run", "single", "--plan", PLAN, "--case", "work", "-i", "3", "--tp", "fail_index=2",
        "--tp", "ops=100", "--tp", "delay=20ms", "--tp", "busy=2ms",
    )  # fmt: skip
    assert proc.returncode == 1
    run_dir = choreo.runs()[-1]
    ARTIFACTS.mkdir(exist_ok=True)
    html = ARTIFACTS / "report-run.html"
    made = choreo("report", run_dir.name, "-o", str(html))
    assert made.returncode == 0, made.stderr
    text = html.read_text()
    assert "http://" not in text and "https://" not in text  # readable offline
    assert text.count("data:image/png;base64,") >= 3  # distribution, time series, resources
    assert "failure" in text and "failing on purpose after recording" in text
    assert "href='#log-single-2'" in text and "id='log-single-2'" in text
    png = ARTIFACTS / "report-run.png"
    png.unlink(missing_ok=True)
    screenshot(html, png)
    assert_not_blank(png)


def test_report_of_sdk_go_metric_files(choreo: Choreo, tmp_path: Path) -> None:
    """A run folder whose instance wrote sdk-go's results.out still reports."""
    run_dir = run_ok(choreo, "--case", "work", "-i", "1", "--tp", "ops=3")
    records = [
        {"ts": 1, "type": "point", "name": "rtt", "measures": {"value": 1.5}},
        {"ts": 2, "type": "point", "name": "rtt", "measures": {"value": 2.5}},
    ]
    (run_dir / "single/0/results.out").write_text("".join(json.dumps(r) + "\n" for r in records))
    table = choreo("results", run_dir.name, "--metric", "rtt")
    row = next(line for line in table.stdout.splitlines() if line.startswith("rtt"))
    assert [c.strip() for c in row.split("│")][2:5] == ["single", "2", "2"]
    assert choreo("report", run_dir.name, "-o", str(tmp_path / "r.html")).returncode == 0
    assert os.path.getsize(tmp_path / "r.html") > 10_000
