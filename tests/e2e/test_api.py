"""The Python API (choreograph.api) on real runs: typed results, frames, series, compare."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from choreograph.api import Controller, Run, arun, compare
from choreograph.errors import InputError, PlanError
from choreograph.results.metrics import metric_samples

from .conftest import EXAMPLES

SYNC = EXAMPLES / "sync"
METRICS = EXAMPLES / "metrics"


@pytest.fixture
def controller(tmp_path: Path) -> Controller:
    return Controller(tmp_path / "home")


def test_a_run_returns_its_outcome_and_its_tables(controller: Controller) -> None:
    with controller as c:
        run = c.run(SYNC, "fanin", instances=3)
    assert isinstance(run, Run)
    assert run.success and run.stop_reason == "" and run.seconds > 0
    assert (run.plan, run.case) == ("sync", "fanin")
    assert run.folder == controller.home / "runs" / run.run_id
    record = json.loads((run.folder / "run.json").read_text())
    assert record["status"] == "success"
    assert list(run.groups) == ["single"] and run.groups["single"].ok == 3
    assert sorted(run.instances) == ["single/0", "single/1", "single/2"]
    assert {o.status for o in run.instances.values()} == {"success"}
    assert run.failures() == []

    outcomes = run.outcomes()
    assert sorted(outcomes["instance"]) == sorted(run.instances)
    messages = run.messages()
    # The first instance to sign in collects every id and says so.
    assert list(messages["text"]).count("collected 3 ids") == 1
    assert set(messages.columns) == {"group", "instance", "ts", "time", "text"}
    assert controller.statistics()["runs"] == 1


def test_a_failed_run_is_data_with_each_instance_outcome(controller: Controller) -> None:
    run = controller.run(EXAMPLES / "failure", "one-fails", instances=3)
    assert not run.success
    assert [o.key for o in run.failures()] == ["single/1"]
    assert run.instances["single/1"].status == "failure"
    assert run.instances["single/1"].error == "instance 1 disagrees"
    group = run.groups["single"]
    assert (group.ok, group.failed, group.total) == (2, 1, 3)
    summary = run.summary()
    assert "failed" in summary and "single: 2/3 ok, 1 failed" in summary
    assert "single/1 failure: instance 1 disagrees" in summary


def test_user_mistakes_are_choreograph_errors(controller: Controller) -> None:
    with pytest.raises(PlanError, match="rounds"):
        controller.run(SYNC, "barrier", params={"rounds": "many"})
    with pytest.raises(InputError, match="barrier, fanin, all"):
        controller.run(SYNC)  # three cases: which one?


def test_resources_are_sampled_every_second_per_instance(controller: Controller) -> None:
    # 100 operations of 25 ms: about 2.5 s, two or more samples per instance.
    run = controller.run(METRICS, "work", instances=2, params={"delay": "25ms", "ops": 100})
    assert run.success, run.summary()
    frame = run.resources()
    assert set(frame["name"]) == {"cpu_percent", "rss_bytes"}
    assert set(frame["kind"]) == {"resources"}
    lists = run.resource_samples()
    assert sorted(lists) == ["single/0", "single/1"]
    for key, samples in lists.items():
        assert len(samples.ts) >= 2
        assert len(samples.cpu_percent) == len(samples.rss_bytes) == len(samples.ts)
        gaps = [(b - a) / 1e9 for a, b in zip(samples.ts, samples.ts[1:], strict=False)]
        assert all(0.5 < gap < 2.0 for gap in gaps), gaps
        assert all(rss > 0 for rss in samples.rss_bytes)
        mine = frame[frame["instance"] == key].sort_values("ts")
        cpu = mine[mine["name"] == "cpu_percent"]["value"].tolist()
        rss = mine[mine["name"] == "rss_bytes"]["value"].tolist()
        assert samples.cpu_percent == cpu and samples.rss_bytes == [int(v) for v in rss]
    # The plan's own metrics are a frame too: 100 op_time samples per instance.
    metrics = run.metrics()
    assert (metrics["name"] == "op_time").sum() == 200


def test_a_composition_file_runs_its_groups(controller: Controller, tmp_path: Path) -> None:
    file = tmp_path / "two-groups.toml"
    file.write_text(
        f'[global]\nplan = "{SYNC}"\ncase = "barrier"\n\n'
        '[[groups]]\nid = "left"\ninstances = { count = 2 }\n\n'
        '[[groups]]\nid = "right"\ninstances = { count = 1 }\n'
    )
    run = controller.run(file, params={"rounds": 2})
    assert run.success, run.summary()
    assert {g: o.total for g, o in run.groups.items()} == {"left": 2, "right": 1}
    with pytest.raises(InputError, match="names its plan, case"):
        controller.run(composition=file, case="barrier")


def test_a_series_of_three_with_its_statistics(controller: Controller) -> None:
    params = {"samples": 20}
    s = controller.series(METRICS, "noisy", repeat=3, metric="value", instances=1, params=params)
    assert s.success and s.status == "done" and len(s.runs) == 3
    means = [statistics.fmean(metric_samples(r.folder, ["single"], "value")) for r in s.runs]
    assert s.means == means
    assert s.interval is not None and s.interval.n == 3
    assert s.mean == pytest.approx(statistics.fmean(means))
    assert s.interval.low < s.mean < s.interval.high
    record = json.loads((s.folder / "series.json").read_text())
    assert [r["run_id"] for r in record["runs"]] == [r.run_id for r in s.runs]
    assert list(s.frame()["mean"]) == means


def test_compare_two_runs_finds_the_slower_one(controller: Controller) -> None:
    fast = controller.run(METRICS, "work", instances=1, params={"delay": "2ms", "ops": 20})
    slow = controller.run(METRICS, "work", instances=1, params={"delay": "20ms", "ops": 20})
    result = compare(fast, slow, "op_time")
    assert len(result.a) == len(result.b) == 20
    assert result.significant and result.difference > 0
    assert result.relative > 1  # 2 ms → 20 ms: several times slower
    assert "significantly higher" in result.verdict
    # By id, looked up in the controller's home: the same numbers.
    again = controller.compare(fast.run_id, slow.run_id, "op_time")
    assert again.result == result.result
    same = controller.compare(fast, fast, "op_time")
    assert not same.significant and same.difference == 0


async def test_arun_inside_an_event_loop(tmp_path: Path) -> None:
    run = await arun(SYNC, "barrier", home=tmp_path / "home", instances=2)
    assert run.success and run.groups["single"].total == 2
    with pytest.raises(InputError, match="running event loop"):
        Controller(tmp_path / "home").run(SYNC, "barrier")


def test_calibrate_finds_the_knob_and_later_runs_use_it(controller: Controller) -> None:
    # With sd = 0 every recorded value is the `mean` param: the metric follows the knob.
    fixed = {"sd": 0, "samples": 5}
    found = controller.calibrate(
        METRICS, "noisy", knob="mean", target=150, metric="value", instances=1, params=fixed
    )
    assert found.converged, found.reason
    assert found.value is not None and abs(found.value - 150) <= 1.5
    assert [i.measured for i in found.iterations] == [i.knob for i in found.iterations]
    run = controller.run(METRICS, "noisy", instances=1, params={**fixed, "mean": "@calibrated"})
    assert set(run.metrics()["value"]) == {float(found.text or "nan")}
    with pytest.raises(InputError, match="use start="):
        controller.calibrate(METRICS, "noisy", knob="mean", target=1, params={"mean": 3})
