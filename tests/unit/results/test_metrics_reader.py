"""The metric reader: Choreograph's records and sdk-go's, from files laid out as a run."""

from __future__ import annotations

import json
from pathlib import Path

from choreograph.results import metrics
from choreograph.sdk import RunEnv

# As sdk-go's runtime.Metric marshals ({"ts","type","name","measures"}), one per line.
SDK_GO = [
    {"ts": 1_000, "type": "point", "name": "rtt", "measures": {"value": 1.5}},
    {"ts": 2_000, "type": "counter", "name": "msgs,peer=3", "measures": {"count": 7}},
    {"ts": 3_000, "type": "gauge", "name": "conns", "measures": {"value": 4.0}},
    {
        "ts": 4_000,
        "type": "histogram",
        "name": "size",
        "measures": {"count": 10.0, "mean": 2.5, "p50": 2.0, "max": 9.0},
    },
    {"ts": 5_000, "type": "ewma", "name": "rate", "measures": {"rate": 0.25}},
]


def test_sdk_go_records(tmp_path: Path) -> None:
    path = tmp_path / "results.out"
    path.write_text("".join(json.dumps(m) + "\n" for m in SDK_GO))
    rows = list(metrics.read_file(path, "g", "g/0", "results"))
    assert [(r.name, r.type, r.value, r.tags, r.ts) for r in rows] == [
        ("rtt", "point", 1.5, "", 1_000),
        ("msgs", "counter", 7.0, "peer=3", 2_000),
        ("conns", "gauge", 4.0, "", 3_000),
        ("size.count", "histogram", 10.0, "", 4_000),
        ("size.max", "histogram", 9.0, "", 4_000),
        ("size.mean", "histogram", 2.5, "", 4_000),
        ("size.p50", "histogram", 2.0, "", 4_000),
        ("rate", "ewma", 0.25, "", 5_000),
    ]
    assert {(r.group, r.instance, r.source) for r in rows} == {("g", "g/0", "sdk-go")}


def test_choreograph_records_written_by_the_sdk(tmp_path: Path) -> None:
    out = tmp_path / "grp" / "1"
    runenv = RunEnv.from_env(
        {
            "TEST_PLAN": "p",
            "TEST_CASE": "c",
            "TEST_RUN": "r",
            "TEST_INSTANCE_COUNT": "2",
            "TEST_GROUP_ID": "grp",
            "CHOREO_GROUP_INDEX": "1",
            "TEST_OUTPUTS_PATH": str(out),
        }
    )
    runenv.R().timer("t", unit="ms").observe(3.0)
    runenv.D().gauge("q").set(2)
    runenv.flush_metrics()
    (out / "results.out").open("a").write('{"name": "torn", "value": 1')  # killed mid-line
    rows = list(metrics.read_run(tmp_path, ["grp", "absent"]))
    assert [(r.group, r.instance, r.name, r.unit, r.value, r.kind) for r in rows] == [
        ("grp", "grp/1", "t", "ms", 3.0, "results"),
        ("grp", "grp/1", "q", "", 2.0, "diagnostics"),
    ]


def test_samples_take_each_counters_last_total() -> None:
    def row(instance: str, kind: str, ts: int, value: float) -> metrics.MetricRow:
        return metrics.MetricRow("g", instance, "m", kind, "", ts, value)

    rows = [
        row("g/0", "counter", 1, 1),
        row("g/0", "counter", 3, 3),
        row("g/0", "counter", 2, 2),
        row("g/1", "counter", 1, 10),
    ]
    assert sorted(metrics.samples(rows)) == [3, 10]
    assert metrics.samples([row("g/0", "histogram", 1, 5), row("g/0", "point", 2, 6)]) == [5, 6]


def test_lines_that_are_not_records_are_ignored() -> None:
    assert list(metrics.parse_record({"event": {}}, "g", "g/0")) == []
    assert list(metrics.parse_record({"name": "x", "value": "high"}, "g", "g/0")) == []
    assert list(metrics.parse_record([1, 2], "g", "g/0")) == []
