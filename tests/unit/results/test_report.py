"""The run report: bands past the threshold, natural order, figures by metric type, the
timeline, and failures that stay readable when many instances fail."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from choreograph.results import plots, report, report_metrics
from choreograph.results.bands import BAND_THRESHOLD
from choreograph.results.layout import RunLayout, instance_order
from choreograph.results.tables import load
from choreograph.sdk import Metrics
from choreograph.wire.events import Event

S = 1_000_000_000
STARTED = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
T0 = int(STARTED.timestamp()) * S


def make_run(root: Path, sizes: dict[str, int], failing: Collection[str] = ()) -> Path:
    """A finished run written as the SDK, the sampler and the engine write one: per
    instance a start, a stage and an outcome event, a counter ``ops``, a gauge ``peers``,
    a timer ``latency``, and CPU and RSS samples, once a second for 5 s."""
    layout = RunLayout(root, "20261130-120000-000abcdef")
    statuses: dict[str, dict[str, Any]] = {}
    for group, count in sizes.items():
        for index in range(count):
            key = f"{group}/{index}"
            folder = layout.instance_dir(key)
            folder.mkdir(parents=True)
            fails = key in failing
            end = Event("failure", group=group, error="no peers") if fails else Event("success")
            stamped = [
                (Event("start"), 0.1 * index),
                (Event("stage_end", name="setup", group=group), 1.0),
                (end, 5.0 + 0.1 * index),
            ]
            (folder / "run.out").write_text(
                "".join(
                    dataclasses.replace(e, instance=key, seq=n, ts=T0 + int(at * S)).to_line()
                    + "\n"
                    for n, (e, at) in enumerate(stamped, 1)
                )
            )
            (folder / "run.err").write_text("boom\n" if fails else "")
            results = Metrics(folder / "results.out", "r", group, key)
            usage = Metrics(folder / "resources.out", "r", group, key)
            lines, samples = [], []
            for t in range(1, 6):
                ts = T0 + t * S
                lines += [
                    (results.prefix("ops", "counter", ""), ts, 10.0 * t * (index + 1)),
                    (results.prefix("peers", "gauge", ""), ts, float(index)),
                    (results.prefix("latency", "timer", "ms"), ts, 1.0 + t),
                ]
                samples += [
                    (usage.prefix("cpu_percent", "gauge", "%"), ts, 50.0 + index),
                    (usage.prefix("rss_bytes", "gauge", "B"), ts, (10.0 + index) * 2**20),
                ]
            for path, records in (("results.out", lines), ("resources.out", samples)):
                text = "".join(f'{p},"ts":{ts},"value":{v!r}}}\n' for p, ts, v in records)
                (folder / path).write_text(text)
            statuses[key] = {
                "status": "failure" if fails else "success",
                "error": "no peers" if fails else "",
                "returncode": 1 if fails else 0,
                "decided_by": "stdout",
            }
    groups = [{"id": g, "instances": n} for g, n in sizes.items()]
    layout.write_run_json(
        {
            "run_id": layout.run_id,
            "started": STARTED.isoformat(),
            "status": "failure" if failing else "success",
            "spec": {"plan": "p", "case": "c", "groups": groups},
            "outcome": {"instances": statuses, "groups": []},
        }
    )
    return layout.root


def render(run_dir: Path) -> str:
    return report.run_report(load(run_dir))


def alts(page: str) -> list[str]:
    return re.findall(r"<img src='data:image/png;base64,[^']*' alt='([^']*)'>", page)


def test_lines_per_instance_below_the_threshold(tmp_path: Path) -> None:
    page = render(make_run(tmp_path, {"g": 3}))
    figures = alts(page)
    assert "peers: one line per instance over time" in figures
    assert "CPU and memory: CPU %: one line per instance over time" in figures
    assert any("one bar per instance" in a for a in figures)  # the timeline
    assert not any("p5-p95" in a for a in figures)


def test_bands_past_the_threshold(tmp_path: Path) -> None:
    page = render(make_run(tmp_path, {"g": BAND_THRESHOLD + 1, "h": 2}))
    figures = alts(page)
    assert any(a.startswith("peers: p5-p95 band and p50 line per group") for a in figures)
    assert any(a.startswith("CPU and memory: CPU %: p5-p95 band") for a in figures)
    assert any(a.startswith("latency: p5-p95 band") for a in figures)
    assert any("instances running, ended ok and ended otherwise" in a for a in figures)
    assert not any("one line per instance" in a or "one bar per" in a for a in figures)
    assert "RSS MiB peak p50" in page  # peaks per group, not a row per instance
    assert page.count("<td class='l'>g/") == 0


def test_instances_are_listed_in_natural_order(tmp_path: Path) -> None:
    failing = {"g/2", "g/10", "g/1"}
    page = render(make_run(tmp_path, {"g": 12}, failing))
    outcome = page[page.index("id='outcome'") : page.index("id='timeline'")]
    listed = re.findall(r"<td class='l'>(g/\d+)</td>", outcome)
    assert listed == ["g/1", "g/2", "g/10"]
    resources = page[page.index("id='resources'") :]
    peaks = re.findall(r"<td class='l'>(g/\d+)</td>", resources[: resources.index("id='logs'")])
    assert peaks == [f"g/{k}" for k in range(12)]
    tails = re.findall(r"<section id='log-g-(\d+)'>", page)
    assert tails == ["1", "2", "10"]
    assert sorted(["g/10", "g/2", "g/1"], key=instance_order) == ["g/1", "g/2", "g/10"]


def test_counters_are_never_drawn_as_histograms(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn: dict[str, list[str]] = {"distribution": [], "counter": []}

    def spy(kind: str, real: Callable[..., bytes]) -> Callable[..., bytes]:
        def record(*args: Any) -> bytes:
            drawn[kind].append(args[-2])  # the metric's name
            return real(*args)

        return record

    monkeypatch.setattr(plots, "distribution", spy("distribution", plots.distribution))
    monkeypatch.setattr(plots, "counter", spy("counter", plots.counter))
    page = render(make_run(tmp_path, {"g": 2}))
    assert drawn == {"distribution": ["latency"], "counter": ["ops"]}
    assert "ops: final total per instance; rate: ops: one line per instance over time" in alts(page)
    assert "<th>total</th>" in page  # the counter's table sums the instances' final totals
    assert not any(a.startswith(("ops: distribution", "peers: distribution")) for a in alts(page))


@pytest.mark.parametrize(
    ("mtype", "source", "name", "kind"),
    [
        ("counter", "choreograph", "ops", "counter"),
        ("gauge", "choreograph", "peers", "level"),
        ("ewma", "sdk-go", "rate", "level"),
        ("timer", "choreograph", "latency", "samples"),
        ("histogram", "choreograph", "size", "samples"),
        ("point", "choreograph", "rtt", "samples"),
        ("histogram", "sdk-go", "size.p50", "level"),  # a snapshot of a percentile
        ("meter", "sdk-go", "hits.count", "counter"),
    ],
)
def test_figures_follow_the_metric_type(mtype: str, source: str, name: str, kind: str) -> None:
    assert report_metrics.kind_of(mtype, source, name) == kind


def test_the_timeline_and_its_stages(tmp_path: Path) -> None:
    page = render(make_run(tmp_path, {"g": 3}))
    assert "<a href='#timeline'>timeline</a>" in page
    timeline = page[page.index("<h2 id='timeline'>") : page.index("<h2 id='metrics'>")]
    assert "alt='one bar per instance from its start to its end" in timeline
    assert "<td class='l'>g</td><td class='l'>setup</td><td>3</td><td>1</td>" in timeline


def test_many_failures_are_listed_by_error_with_few_log_tails(tmp_path: Path) -> None:
    count = report.MAX_FAILED_ROWS + 5
    page = render(make_run(tmp_path, {"g": count}, {f"g/{k}" for k in range(count)}))
    assert f"Instances that did not succeed ({count})" in page
    row = re.search(r"<td class='l'>no peers</td><td>(\d+)</td><td>(.*?)</td>", page)
    assert row is not None and row.group(1) == str(count)
    assert row.group(2).startswith("<a href='#log-g-0'>g/0</a>, <a href='#log-g-1'>g/1</a>")
    assert page.count("<section id='log-") == report.MAX_LOG_TAILS


def test_sdk_go_count_snapshots_are_totals_not_samples(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, {"g": 2})
    for index, last in ((0, 7.0), (1, 5.0)):
        snapshots = [
            {"ts": T0 + t * S, "type": "histogram", "name": "size",
             "measures": {"count": last * t / 3, "p50": 2.0}}
            for t in range(1, 4)
        ]  # fmt: skip
        text = "".join(json.dumps(m) + "\n" for m in snapshots)
        (run_dir / f"g/{index}/results.out").write_text(text)
    page = render(run_dir)
    block = page[page.index("<h3>size.count") : page.index("<h3>size.p50")]
    # count (instances), mean, p50, p90, p99, min, max, total: the last snapshot of each
    assert "<td class='l'>g</td><td>2</td><td>6</td>" in block and "<td>12</td></tr>" in block
    assert "size.count: final total per instance" in block
    assert "size.p50: distribution" not in page
