"""The mock collector's pure parts: latency distributions, drop/error decisions with a
seeded random source, mode defaults, counters as metric records, OTLP span counting, and
the spec → command line → behaviour round trip."""

from __future__ import annotations

import gzip
import json
import random
import statistics
from pathlib import Path

import pytest

from choreograph.results.metrics import read_run
from choreograph.services.mocks import behaviour_args
from choreograph.services.mocks.collector import _settings, parser
from choreograph.services.mocks.counters import Counters, append_records, percentile
from choreograph.services.mocks.modes import (
    MODES,
    Behaviour,
    Latency,
    behaviour,
    decide,
)
from choreograph.services.mocks.otlp import count_spans, decoded

N = 20_000


def samples(latency: Latency, seed: int = 1) -> list[float]:
    rng = random.Random(seed)
    return [latency.sample(rng) for _ in range(N)]


def test_constant_is_its_mean() -> None:
    assert set(samples(Latency("constant", mean=0.002))) == {0.002}


def test_uniform_spans_min_to_max() -> None:
    values = samples(Latency("uniform", min=0.01, max=0.03))
    assert 0.01 <= min(values) < 0.011 and 0.029 < max(values) <= 0.03
    assert statistics.fmean(values) == pytest.approx(0.02, rel=0.02)


def test_normal_has_its_mean_and_stddev_and_is_clamped() -> None:
    values = samples(Latency("normal", mean=0.5, stddev=0.05))
    assert statistics.fmean(values) == pytest.approx(0.5, rel=0.01)
    assert statistics.stdev(values) == pytest.approx(0.05, rel=0.05)
    clamped = samples(Latency("normal", mean=0.5, stddev=0.05, min=0.45, max=0.52))
    assert min(clamped) == 0.45 and max(clamped) == 0.52
    assert sum(v == 0.45 for v in clamped) / N == pytest.approx(0.16, abs=0.02)  # 1 sigma


def test_exponential_keeps_its_mean_above_min() -> None:
    values = samples(Latency("exponential", mean=0.01, min=0.004))
    assert min(values) >= 0.004
    assert statistics.fmean(values) == pytest.approx(0.01, rel=0.03)
    assert statistics.median(values) < statistics.fmean(values)  # the long tail


@pytest.mark.parametrize(
    ("latency", "problem"),
    [
        (Latency("uniform", mean=1), "needs min and max"),
        (Latency("exponential", mean=0.1, min=0.1), "mean > min"),
        (Latency("normal", mean=1, min=2, max=1), "0 ≤ min ≤ max"),
        (Latency("pareto", mean=1), "expected a distribution in"),
        (Latency("normal", mean=1, stddev=-1), "stddev ≥ 0"),
    ],
)
def test_unusable_latencies_say_why(latency: Latency, problem: str) -> None:
    assert problem in latency.problem()


def test_modes_defaults_and_overrides() -> None:
    typical, slow_ok, slow_fail = (behaviour({"mode": m}) for m in MODES)
    assert (typical.status, slow_ok.status, slow_fail.status) == (200, 200, 503)
    assert typical.latency.mean == 0.001 and slow_fail.latency.min == 0.4
    assert behaviour({}) == typical
    custom = behaviour({"mode": "slow_fail", "latency": {"mean": 0.02}, "error_rate": 0.5})
    assert custom.latency == Latency("constant", mean=0.02)  # replaces the mode's, whole
    assert (custom.status, custom.error_rate) == (503, 0.5)
    with pytest.raises(ValueError, match="mode 'fast': expected one of typical"):
        behaviour({"mode": "fast"})
    with pytest.raises(ValueError, match=r"drop_rate: expected a number in \[0, 1\], found 1.5"):
        behaviour({"drop_rate": 1.5})
    with pytest.raises(ValueError, match="latency: a uniform distribution needs min and max"):
        behaviour({"latency": {"distribution": "uniform", "min": 0.1}})


def fates(b: Behaviour, seed: int, n: int = N) -> list[tuple[bool, int]]:
    rng = random.Random(seed)
    return [(a.drop, a.status) for a in (decide(b, rng) for _ in range(n))]


def test_drop_and_error_rates_with_a_seeded_rng() -> None:
    b = Behaviour("typical", 200, Latency("constant", mean=0.001), error_rate=0.2, drop_rate=0.1)
    seen = fates(b, seed=42)
    drops = sum(drop for drop, _ in seen)
    errors = sum(status == 500 for drop, status in seen if not drop)
    assert drops / N == pytest.approx(0.1, abs=0.01)
    assert errors / (N - drops) == pytest.approx(0.2, abs=0.015)
    assert {status for drop, status in seen if not drop} == {200, 500}
    assert fates(b, seed=42) == seen  # replayable
    assert fates(b, seed=43) != seen


def test_rates_at_the_edges_and_the_mode_status() -> None:
    latency = Latency("constant", mean=0.25)
    assert set(fates(Behaviour("typical", 200, latency, drop_rate=1.0), 1, 100)) == {(True, 200)}
    assert set(fates(Behaviour("typical", 200, latency, error_rate=1.0), 1, 100)) == {(False, 500)}
    assert set(fates(Behaviour("slow_fail", 503, latency), 1, 100)) == {(False, 503)}
    answer = decide(Behaviour("slow_fail", 503, latency), random.Random(0))
    assert answer.delay == 0.25


def test_percentiles_are_nearest_rank() -> None:
    ordered = [float(v) for v in range(1, 101)]
    assert [percentile(ordered, q) for q in (0.5, 0.95, 0.99, 1.0)] == [50, 95, 99, 100]
    assert percentile([7.0], 0.5) == 7.0


def test_counters_as_records(tmp_path: Path) -> None:
    head = {"run": "r1", "group": "service:sat", "instance": "service:sat/0"}
    counters = Counters()
    counters.requests, counters.bytes, counters.spans, counters.failed = 4, 1000, 12, 1
    counters.latencies = [0.004, 0.001, 0.003, 0.002]
    first = counters.records(head)
    by_name = {r["name"]: r for r in first}
    assert by_name["collector_requests"]["value"] == 4
    assert by_name["collector_bytes"]["unit"] == "B"
    assert by_name["collector_requests"]["type"] == "counter"
    assert by_name["collector_latency_p50"]["value"] == 0.002
    assert by_name["collector_latency_max"]["value"] == 0.004
    assert counters.latencies == []
    assert counters.records(head) == []  # nothing new since the last write
    assert len(counters.records(head, final=True)) == 5  # the totals, always, at the end
    counters.dropped += 1
    later = counters.records(head)
    assert {r["name"]: r["value"] for r in later}["collector_dropped"] == 1
    run = tmp_path / "r1"
    (run / "services" / "sat" / "0").mkdir(parents=True)
    append_records(run / "services" / "sat" / "0" / "metrics.out", first + later)
    rows = list(read_run(run, []))
    assert {(r.group, r.instance) for r in rows} == {("service:sat", "service:sat/0")}
    assert {r.name for r in rows if r.value == 12} == {"collector_spans"}


def test_otlp_json_spans_are_counted() -> None:
    export = {
        "resourceSpans": [
            {"scopeSpans": [{"spans": [{}, {}]}, {"spans": [{}]}]},
            {"instrumentationLibrarySpans": [{"spans": [{}, {}, {}]}]},
        ]
    }
    body = json.dumps(export).encode()
    assert count_spans(body, "application/json") == 6
    assert count_spans(b"not json", "application/json") is None
    assert count_spans(b"[1, 2]", "application/json") is None
    assert count_spans(b'{"resourceSpans": 3}', "application/json") == 0
    assert decoded(gzip.compress(body), "gzip") == body
    assert decoded(b"\x1f\x8b broken", "gzip") is None


def test_otlp_protobuf_spans_are_counted_when_the_proto_package_is_there() -> None:
    try:
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
    except ImportError:
        # Without opentelemetry-proto a protobuf export counts as a request, not as spans.
        assert count_spans(b"\n\x00", "application/x-protobuf") is None
        return
    request = trace_service_pb2.ExportTraceServiceRequest()
    for spans in (2, 3):
        scope = request.resource_spans.add().scope_spans.add()
        for _ in range(spans):
            scope.spans.add()
    assert count_spans(request.SerializeToString(), "application/x-protobuf") == 5
    assert count_spans(b"\xff\xff\xff", "application/x-protobuf") is None


@pytest.mark.parametrize(
    "settings",
    [
        {"mode": "slow_fail"},
        {"mode": "typical", "error_rate": 0.25, "drop_rate": 0.5, "seed": 3},
        {"mode": "slow_succeed", "latency": {"distribution": "uniform", "min": 0.1, "max": 0.2}},
        {"latency": {"distribution": "exponential", "mean": 0.01, "min": 0.001, "max": 1.0}},
    ],
)
def test_a_spec_behaviour_survives_the_command_line(settings: dict[str, object]) -> None:
    argv = ["--port", "1", *behaviour_args(settings)]
    args = parser().parse_args(argv)
    assert behaviour(_settings(args)) == behaviour(settings)
    if "seed" in settings:
        assert parser().parse_args(["--port", "1", *behaviour_args(settings, 2)]).seed == 5
