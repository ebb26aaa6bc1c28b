"""A mock collector's counters, written as metric records the run's tables read.

Records have the SDK's shape (``{"run", "group", "instance", "name", "type", "unit", "ts",
"value"}``, see ``choreograph.results.metrics``). Counters are running totals (type
``counter``: a summary takes each collector's last one): ``collector_requests`` (received),
``collector_dropped`` (closed without an answer), ``collector_failed`` (answered with an
error status), ``collector_bytes`` (request bodies) and ``collector_spans`` (spans counted
in OTLP trace bodies). Latency served is written per interval, as gauges
``collector_latency_p50``/``_p95``/``_p99``/``_max`` in seconds of the requests answered
since the previous write, so the files stay small however busy the collector is.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

COUNTERS = {
    "requests": "",
    "dropped": "",
    "failed": "",
    "bytes": "B",
    "spans": "",
}
PERCENTILES = {"p50": 0.50, "p95": 0.95, "p99": 0.99, "max": 1.0}


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending, non-empty list."""
    # The epsilon keeps 0.95 * 100 (95.00000000000001 in floats) at rank 95.
    rank = max(1, math.ceil(q * len(ordered) - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class Counters:
    """Totals since start and the latencies served since the last :meth:`records`."""

    requests: int = 0
    dropped: int = 0
    failed: int = 0
    bytes: int = 0
    spans: int = 0
    latencies: list[float] = field(default_factory=list)
    _written: tuple[int, ...] = ()

    def records(self, head: dict[str, str], final: bool = False) -> list[dict[str, Any]]:
        """Records for one write: the counters when they changed (always when ``final``),
        and the percentiles of the latencies served since the last write."""
        ts = time.time_ns()
        out: list[dict[str, Any]] = []
        totals = tuple(getattr(self, name) for name in COUNTERS)
        if final or totals != self._written:
            for (name, unit), total in zip(COUNTERS.items(), totals, strict=True):
                out.append(
                    {**head, "name": f"collector_{name}", "type": "counter", "unit": unit,
                     "ts": ts, "value": total}
                )  # fmt: skip
            self._written = totals
        if self.latencies:
            ordered = sorted(self.latencies)
            self.latencies = []
            for name, q in PERCENTILES.items():
                out.append(
                    {**head, "name": f"collector_latency_{name}", "type": "gauge", "unit": "s",
                     "ts": ts, "value": round(percentile(ordered, q), 6)}
                )  # fmt: skip
        return out


def append_records(path: Path, records: list[dict[str, Any]]) -> None:
    if not records:
        return
    with path.open("a", encoding="utf-8") as out:
        out.write("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records))
