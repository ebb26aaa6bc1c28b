"""The Python API (choreograph.api) on real runs: typed results, frames, series, compare."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from choreograph.api import Controller, Run, Series, arun, compare, load
from choreograph.errors import InputError, PlanError, RunNotFoundError
from choreograph.results.liveness import owner_record
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


def test_past_runs_and_series_load_by_id_as_the_same_objects(controller: Controller) -> None:
    failed = controller.run(EXAMPLES / "failure", "one-fails", instances=3)
    s = controller.series(METRICS, "noisy", repeat=3, metric="value", instances=1)
    # A run by id, by prefix, as `latest` and by folder: the outcome the run returned.
    for ident in (failed.run_id, failed.run_id[:18], failed.folder):
        loaded = controller.load_run(ident)
        assert (loaded.run_id, loaded.success, loaded.status) == (failed.run_id, False, "failure")
        assert (loaded.plan, loaded.case, loaded.groups) == ("failure", "one-fails", failed.groups)
        assert [o.key for o in loaded.failures()] == ["single/1"]
        assert loaded.instances["single/1"].error == "instance 1 disagrees"
        assert loaded.instances["single/1"].returncode == failed.instances["single/1"].returncode
        assert loaded.seconds == pytest.approx(failed.seconds, abs=1e-3)
    assert controller.load_run("latest").run_id == s.runs[-1].run_id
    # Its tables read the same folder.
    assert list(controller.load_run(failed.run_id).outcomes()["status"]) == list(
        failed.outcomes()["status"]
    )
    # A series: its runs, means and statistics, computed again from the record.
    again = controller.load_series(s.series_id)
    assert [r.run_id for r in again.runs] == [r.run_id for r in s.runs]
    assert again.means == pytest.approx(s.means)
    assert again.interval is not None and s.interval is not None
    assert again.interval.low == pytest.approx(s.interval.low)
    assert (again.status, again.success, again.metric) == ("done", True, "value")
    assert isinstance(load(s.series_id, controller.home), Series)
    assert isinstance(load(failed.run_id, controller.home), Run)
    with pytest.raises(InputError, match="is a series, not a run"):
        controller.load_run(s.series_id)
    with pytest.raises(RunNotFoundError, match="no run or series"):
        controller.load_run("19990101")


def test_a_run_still_in_progress_or_cut_short_loads_as_what_it_is(
    controller: Controller,
) -> None:
    run = controller.run(SYNC, "barrier", instances=2)
    record_file = run.folder / "run.json"
    record = json.loads(record_file.read_text())
    # The same record, as a live process would own it: refused, the outcome is unknown.
    live = {**record, "status": "running", "owner": owner_record()}
    record_file.write_text(json.dumps(live))
    with pytest.raises(InputError, match="still running"):
        controller.load_run(run.run_id)
    # Owned by a process that is gone (a SIGKILL mid-run): aborted, not a success.
    dead = {**live, "owner": {**live["owner"], "started": 1.0}}
    dead.pop("outcome")
    record_file.write_text(json.dumps(dead))
    loaded = controller.load_run(run.run_id)
    assert (loaded.status, loaded.success, loaded.instances) == ("aborted", False, {})
    assert loaded.stop_reason


def test_calibrate_a_composition_drives_the_knob_of_chosen_groups(
    controller: Controller, tmp_path: Path
) -> None:
    file = tmp_path / "two.toml"
    file.write_text(
        f'[global]\nplan = "{METRICS}"\ncase = "noisy"\n\n'
        '[global.run]\ntest_params = { sd = "0", samples = "5" }\n\n'
        '[[groups]]\nid = "fixed"\ninstances = { count = 1 }\n'
        '[groups.run]\ntest_params = { mean = "40" }\n\n'
        '[[groups]]\nid = "driven"\ninstances = { count = 1 }\n'
    )
    found = controller.calibrate(
        file, knob="mean", target=150, metric="value", group="driven", knob_groups=("driven",)
    )
    assert found.converged, found.reason
    assert found.value is not None and abs(found.value - 150) <= 1.5
    last = controller.load_run(found.iterations[-1].run_id)
    values = last.metrics().groupby("group")["value"].agg(set)
    # The fixed group kept its own mean while the driven one was moved to the target.
    assert values["fixed"] == {40.0} and values["driven"] == {float(found.text or "nan")}
    with pytest.raises(InputError, match="--knob-group 'nobody'"):
        controller.calibrate(file, knob="mean", target=1, knob_groups=("nobody",))
