"""Read metric files (``results.out``, ``diagnostics.out``, ``resources.out``) into rows.

Two formats are accepted, line by line:

* Choreograph's SDK and resource sampler: ``{"run", "group", "instance", "name", "type",
  "unit", "ts", "value"}`` — one observation per line.
* Testground sdk-go (``runtime/metrics*.go``): ``{"ts", "type", "name", "measures"}``.
  A ``point`` or ``gauge`` has ``measures.value``, a ``counter`` ``measures.count``, an
  ``ewma`` ``measures.rate``; a ``histogram``, ``timer`` or ``meter`` is a periodic
  snapshot of many measures (``count``, ``mean``, ``p50`` …), read as one row per measure
  named ``<name>.<measure>``. A name may carry InfluxDB tags after commas
  (``"latency,peer=3"``): the name is the part before the first comma, the rest is ``tags``.

Group and instance come from the file's place in the run folder when a record lacks them.
Services write metrics too (the built-in mock collectors, ``services/<label>/<k>/metrics.out``):
they are results of group ``service:<label>``, instance ``service:<label>/<k>``.
Pure Python (no pandas): the series loop reads metrics with this alone.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

METRIC_FILES = {"results.out": "results", "diagnostics.out": "diagnostics"}
RESOURCES_FILE = "resources.out"
SERVICES_DIR = "services"
SERVICE_METRICS_FILE = "metrics.out"
SERVICE_GROUP_PREFIX = "service:"
_SINGLE_MEASURE = {"point": "value", "gauge": "value", "counter": "count", "ewma": "rate"}


@dataclass(frozen=True)
class MetricRow:
    group: str
    instance: str
    name: str
    type: str
    unit: str
    ts: int
    """Unix nanoseconds."""
    value: float
    kind: str = "results"
    """``results``, ``diagnostics`` or ``resources``: which file it came from."""
    tags: str = ""
    source: str = "choreograph"
    """``choreograph`` or ``sdk-go``: the record format."""


def parse_record(obj: Any, group: str, instance: str, kind: str = "results") -> Iterator[MetricRow]:
    """The rows in one decoded line (none for anything that is not a metric record)."""
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
        return
    ts = obj.get("ts")
    ts = int(ts) if isinstance(ts, int | float) and not isinstance(ts, bool) else 0
    mtype = str(obj.get("type") or "")
    full_name: str = obj["name"]
    name, _, tags = full_name.partition(",")
    if "measures" in obj and isinstance(obj["measures"], dict):
        measures: dict[str, Any] = obj["measures"]
        single = _SINGLE_MEASURE.get(mtype)
        picked = {name: measures.get(single)} if single else {
            f"{name}.{m}": v for m, v in sorted(measures.items())
        }  # fmt: skip
        for row_name, value in picked.items():
            number = _float(value)
            if number is not None:
                yield MetricRow(
                    group, instance, row_name, mtype, "", ts, number, kind, tags, "sdk-go"
                )
        return
    number = _float(obj.get("value"))
    if number is None:
        return
    yield MetricRow(
        str(obj.get("group") or group),
        str(obj.get("instance") or instance),
        name,
        mtype,
        str(obj.get("unit", "") or ""),
        ts,
        number,
        kind,
        tags,
    )


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def read_file(path: Path, group: str, instance: str, kind: str) -> Iterator[MetricRow]:
    """Rows of one file; a torn last line (instance killed mid-write) is skipped."""
    with path.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if not line.startswith("{"):
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            yield from parse_record(obj, group, instance, kind)


def instance_dirs(run_dir: Path, groups: Iterable[str]) -> Iterator[tuple[str, str, Path]]:
    """``(group, instance key, folder)`` of every instance folder present in the run."""
    for group in groups:
        group_dir = run_dir / group
        if not group_dir.is_dir():
            continue
        indexes = sorted((p for p in group_dir.iterdir() if p.name.isdigit()), key=_index)
        for folder in indexes:
            yield group, f"{group}/{folder.name}", folder


def _index(path: Path) -> int:
    return int(path.name)


def metric_files(
    run_dir: Path, groups: Iterable[str], kinds: Iterable[str] = ("results", "diagnostics")
) -> Iterator[tuple[str, str, Path, str]]:
    """``(group, instance key, path, kind)`` of every metric file of the kinds asked for, in
    the order rows are read: instance by instance, then the services' files."""
    files = {**METRIC_FILES, RESOURCES_FILE: "resources"}
    wanted = set(kinds)
    for group, key, folder in instance_dirs(run_dir, groups):
        for filename, kind in files.items():
            path = folder / filename
            if kind in wanted and path.is_file():
                yield group, key, path, kind
    if "results" in wanted:
        yield from _service_files(run_dir)


def read_run(
    run_dir: Path, groups: Iterable[str], kinds: Iterable[str] = ("results", "diagnostics")
) -> Iterator[MetricRow]:
    """Every metric row of a run's instances, for the file kinds asked for."""
    for group, key, path, kind in metric_files(run_dir, groups, kinds):
        yield from read_file(path, group, key, kind)


def read_services(run_dir: Path) -> Iterator[MetricRow]:
    """The rows services wrote, as results of their own ``service:<label>`` groups."""
    for group, key, path, kind in _service_files(run_dir):
        yield from read_file(path, group, key, kind)


def _service_files(run_dir: Path) -> Iterator[tuple[str, str, Path, str]]:
    services = run_dir / SERVICES_DIR
    if not services.is_dir():
        return
    for label in sorted(p for p in services.iterdir() if p.is_dir()):
        group = SERVICE_GROUP_PREFIX + label.name
        for folder in sorted((p for p in label.iterdir() if p.name.isdigit()), key=_index):
            path = folder / SERVICE_METRICS_FILE
            if path.is_file():
                yield group, f"{group}/{folder.name}", path, "results"


def samples(rows: Iterable[MetricRow]) -> list[float]:
    """The values that stand for a metric's distribution: every observation, except for
    counters, whose records are running totals: there each instance's last total counts."""
    values: list[float] = []
    last_total: dict[tuple[str, str], MetricRow] = {}
    for row in rows:
        if row.type == "counter":
            seen = last_total.get((row.instance, row.tags))
            if seen is None or row.ts >= seen.ts:
                last_total[(row.instance, row.tags)] = row
        elif math.isfinite(row.value):
            values.append(row.value)
    values.extend(r.value for r in last_total.values())
    return values


def metric_samples(
    run_dir: Path, groups: Iterable[str], metric: str, group: str | None = None
) -> list[float]:
    """The samples of ``metric`` in a run (results and diagnostics), of one group or all."""
    rows = (
        row
        for row in read_run(run_dir, groups)
        if row.name == metric and (group is None or row.group == group)
    )
    return samples(rows)
