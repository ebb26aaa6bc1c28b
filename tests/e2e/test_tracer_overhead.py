"""The tracer-overhead example (examples/tracer-overhead) on a reduced configuration:
a rough calibration, two short runs each of the untraced baseline and the traced Python
client against a typical and a slow_fail collector, the comparison table, and the
analysis notebook executed on those runs. Then one short run each of what that leaves
out: the Node client (``index.js``, traced and untraced) and the Python client exporting
over OTLP/gRPC to a gRPC collector."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

from choreograph.api import Controller
from choreograph.results import load

from .conftest import EXAMPLES

EXAMPLE = EXAMPLES / "tracer-overhead"

pytestmark = pytest.mark.slow


def _study() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tracer_overhead_study", EXAMPLE / "study.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _last_totals(run_id: str, runs_dir: Path, group: str) -> dict[str, float]:
    """Each metric of ``group`` summed over its instances' last values (counters are
    running totals)."""
    m = load(run_id, runs_dir).metrics
    m = m[m["group"] == group].sort_values("ts")
    last = m.groupby(["instance", "name"])["value"].last()
    return {str(k): float(v) for k, v in last.groupby("name").sum().items()}


def _protobuf_counted() -> bool:
    return importlib.util.find_spec("opentelemetry.proto") is not None


def _node_missing() -> str:
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    return f"the Node client needs {' and '.join(missing)}, not found on PATH" if missing else ""


def _short_run(c: Controller, composition: Path, **params: object) -> str:
    """One 2 s run of ``composition`` (typical sleep_ms, no calibration); its id."""
    run = c.run(composition, params={"duration": "2s", **params})
    assert run.success, (run.stop_reason, run.instances)
    return run.run_id


def test_reduced_study_runs_exports_and_reproduces_its_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study = _study()
    config = study.Config(
        duration="2s",
        target=70.0,
        tolerance=10.0,
        iterations=2,
        modes=("typical", "slow_fail"),
        languages=("python",),
        repeat=2,
        rel_ci=0.05,
        max_runs=2,
    )
    with Controller(tmp_path / "home", timeout=120, fail_fast=True) as c:
        record = study.run_study(c, config, tmp_path / "study")
    table = capsys.readouterr().out
    assert "python/slow_fail" in table and "Welch p" in table, table
    assert set(record["runs"]) == {"python/untraced", "python/typical", "python/slow_fail"}
    runs_dir = tmp_path / "home" / "runs"
    # The calibration ran the baseline's own composition, the knob in the client only.
    (calibration,) = (tmp_path / "home" / "calibrations").glob("c-*.json")
    found = json.loads(calibration.read_text())
    assert found["settings"]["knob_groups"] == ["client"] and found["group"] == "client"
    last = json.loads((runs_dir / found["iterations"][-1]["run_id"] / "run.json").read_text())
    params = {g["id"]: g["params"]["sleep_ms"] for g in last["spec"]["groups"]}
    assert params == {"controller": "1.0", "client": found["iterations"][-1]["text"]}, params

    for condition, run_ids in record["runs"].items():
        assert len(run_ids) == 2, condition
        for run_id in run_ids:
            client = _last_totals(run_id, runs_dir, "client")
            collector = _last_totals(run_id, runs_dir, "service:collector")
            assert client["units"] > 0 and 0 < client["cpu_share"] <= 100, (condition, client)
            if condition == "python/untraced":
                assert client["spans_started"] == 0
                assert collector.get("collector_requests", 0) == 0, collector
            elif condition == "python/typical":
                assert client["spans_exported"] == client["spans_started"] > 0, client
                assert collector["collector_requests"] > 0 and collector["collector_failed"] == 0
                if _protobuf_counted():
                    assert collector["collector_spans"] == client["spans_exported"], collector
            else:  # slow_fail: every export refused, every span dropped
                assert client["spans_exported"] == 0 and client["spans_dropped"] > 0, client
                # the last request may still be in flight when the client gives up
                assert collector["collector_failed"] > 0, collector

    _execute_notebook(tmp_path / "study", tmp_path / "home")
    _resume_after_losing_the_last_condition(study, config, tmp_path, record)


def _resume_after_losing_the_last_condition(
    study: ModuleType, config: object, tmp_path: Path, record: dict[str, object]
) -> None:
    """As if the study had been cut off during its last condition: --resume keeps the
    calibration and the finished conditions, and runs only the missing one."""
    path = tmp_path / "study" / "study.json"
    cut = json.loads(path.read_text())
    for key in ("series", "runs"):
        del cut[key]["python/slow_fail"]
    cut["complete"] = False
    path.write_text(json.dumps(cut))
    with Controller(tmp_path / "home", timeout=120, fail_fast=True) as c:
        again = study.run_study(c, config, tmp_path / "study", resume=True)
    assert again["complete"] is True and again["sleep_ms"] == record["sleep_ms"]
    kept, redone = again["series"], record["series"]
    assert isinstance(kept, dict) and isinstance(redone, dict)
    assert {k: kept[k] for k in ("python/untraced", "python/typical")} == {
        k: redone[k] for k in ("python/untraced", "python/typical")
    }
    assert kept["python/slow_fail"] != redone["python/slow_fail"]
    assert len(list((tmp_path / "home" / "calibrations").glob("c-*.json"))) == 1
    assert json.loads(path.read_text()) == json.loads(json.dumps(again))


def _execute_notebook(study_dir: Path, home: Path) -> None:
    try:
        import nbformat
        from nbclient import NotebookClient
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip("nbclient is not installed (pip install -e '.[dev]'); CI runs this part")
    notebook = nbformat.read(EXAMPLE / "analysis.ipynb", as_version=4)
    saved = {k: os.environ.get(k) for k in ("TRACER_STUDY", "CHOREO_HOME")}
    os.environ.update(TRACER_STUDY=str(study_dir), CHOREO_HOME=str(home))
    try:  # the kernel inherits this environment
        NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    for figure in ("unit_cpu.png", "unit_cpu_box.png", "spans.png"):
        assert (study_dir / figure).stat().st_size > 0, figure
    assert json.loads((study_dir / "study.json").read_text())["runs"]


@pytest.mark.skipif(bool(_node_missing()), reason=_node_missing() or "node and npm found")
def test_node_client_exports_every_span_to_a_typical_collector(tmp_path: Path) -> None:
    study = _study()
    comp = study.composition(tmp_path, "node", "typical")
    assert 'builder = "exec:node"' in comp.read_text()
    with Controller(tmp_path / "home", timeout=300, fail_fast=True) as c:
        traced = _short_run(c, comp, traced=True)
        untraced = _short_run(c, comp, traced=False)
    runs_dir = tmp_path / "home" / "runs"

    client = _last_totals(traced, runs_dir, "client")
    collector = _last_totals(traced, runs_dir, "service:collector")
    # Node's process CPU includes V8's own threads (GC, compiler): above one core at times.
    assert client["units"] > 0 and client["cpu_share"] > 0, client
    # The JS SDK's OTLP/HTTP JSON exports: counted without opentelemetry-proto.
    assert client["spans_exported"] == client["spans_started"] > 0, client
    assert collector["collector_spans"] == client["spans_exported"], (collector, client)
    assert collector["collector_failed"] == 0 and collector["collector_dropped"] == 0

    client = _last_totals(untraced, runs_dir, "client")
    collector = _last_totals(untraced, runs_dir, "service:collector")
    assert client["units"] > 0 and client["spans_started"] == client["spans_exported"] == 0
    assert collector.get("collector_requests", 0) == 0, collector


@pytest.mark.skipif(
    importlib.util.find_spec("grpc") is None,
    reason="a gRPC collector needs the grpc extra: pip install -e '.[grpc]'",
)
def test_python_client_exports_over_grpc_to_a_grpc_collector(tmp_path: Path) -> None:
    study = _study()
    comp = study.composition(tmp_path, "python", "typical", "grpc")
    assert 'protocol = "grpc"' in comp.read_text()
    with Controller(tmp_path / "home", timeout=300, fail_fast=True) as c:
        run_id = _short_run(c, comp, traced=True, exporter="grpc")
    runs_dir = tmp_path / "home" / "runs"
    client = _last_totals(run_id, runs_dir, "client")
    collector = _last_totals(run_id, runs_dir, "service:collector")
    assert client["spans_exported"] == client["spans_started"] > 0, client
    assert collector["collector_spans"] == client["spans_exported"], (collector, client)
    assert collector["collector_failed"] == 0, collector
    log = runs_dir / run_id / "services" / "collector" / "0" / "service.log"
    assert "protocol grpc" in log.read_text()

    args = argparse.Namespace(languages="python,node", exporter="grpc", small=True)
    with pytest.raises(SystemExit, match="--exporter grpc: the node client cannot"):
        study.Config.of(args)
