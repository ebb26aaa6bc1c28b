"""What a user names on the command line: a run or a series, by id, prefix or folder.

``choreo report`` and ``choreo compare`` take either; this module finds which one it is and
gives each the same face: a report, and the samples of a metric (a run's observations; a
series' per-run means, since runs are a series' unit of replication), and a run's
per-instance means (its instances are a run's replicates: one instance's samples follow
each other in time and are not independent).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from choreograph.errors import RunNotFoundError
from choreograph.results.layout import RUN_JSON, SERIES_JSON, find_series, list_runs
from choreograph.results.metrics import MetricRow, metric_samples
from choreograph.results.tables import locate_run


@dataclass(frozen=True)
class Located:
    kind: str
    """``run`` or ``series``."""
    path: Path
    home: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def record(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.path / _RECORD[self.kind]).read_text())
        return data

    def run_dirs(self) -> list[Path]:
        if self.kind == "run":
            return [self.path]
        return [self.home / "runs" / r["run_id"] for r in self.record.get("runs", [])]

    def samples(self, metric: str, group: str | None = None) -> list[float]:
        """A run's samples of ``metric``; a series' per-run means of it."""
        if self.kind == "run":
            return _run_samples(self.path, metric, group)
        means = []
        for run_dir in self.run_dirs():
            values = _run_samples(run_dir, metric, group) if run_dir.is_dir() else []
            if values:
                means.append(sum(values) / len(values))
        return means

    def all_samples(self, metric: str, group: str | None = None) -> list[float]:
        """Every observation of ``metric``, of every run (for percentiles)."""
        values: list[float] = []
        for run_dir in self.run_dirs():
            values += _run_samples(run_dir, metric, group) if run_dir.is_dir() else []
        return values

    def instance_means(self, metric: str, group: str | None = None) -> list[float]:
        """A run's mean of ``metric`` per instance (a counter: its last total)."""
        from choreograph.results.metrics import read_run, samples

        by_instance: dict[str, list[MetricRow]] = {}
        for row in read_run(self.path, _groups(self.path)):
            if row.name == metric and (group is None or row.group == group):
                by_instance.setdefault(row.instance, []).append(row)
        means = [samples(rows) for rows in by_instance.values()]
        return [sum(values) / len(values) for values in means if values]

    def unit(self, metric: str) -> str:
        from choreograph.results.metrics import read_run

        for run_dir in self.run_dirs()[:1]:
            for row in read_run(run_dir, _groups(run_dir)):
                if row.name == metric:
                    return row.unit
        return ""

    def report(self) -> tuple[str, str]:
        """``(html, file stem)``."""
        if self.kind == "run":
            from choreograph.results.report import run_report
            from choreograph.results.tables import load

            return run_report(load(self.path)), f"report-{self.name}"
        from choreograph.results.series_report import series_report

        return series_report(self), f"report-{self.name}"


_RECORD = {"run": RUN_JSON, "series": SERIES_JSON}


def _groups(run_dir: Path) -> list[str]:
    record = json.loads((run_dir / RUN_JSON).read_text())
    return [g["id"] for g in record.get("spec", {}).get("groups", [])]


def _run_samples(run_dir: Path, metric: str, group: str | None) -> list[float]:
    return metric_samples(run_dir, _groups(run_dir), metric, group)


def locate(ident: str | Path, home: Path) -> Located:
    """A folder holding ``run.json`` or ``series.json``, else a run id, else a series id."""
    path = Path(ident)
    for kind, record in _RECORD.items():
        if (path / record).is_file():
            return Located(kind, path.resolve(), home)
    text = str(ident)
    if text.startswith("s-") or not any(r.startswith(text) for r in list_runs(home / "runs")):
        series = find_series(home / "series", text)
        if series is not None:
            return Located("series", series, home)
    try:
        layout = locate_run(text, home / "runs")
    except RunNotFoundError:
        raise RunNotFoundError(
            f"no run or series {text!r} in {home} (`choreo runs list` shows runs; series "
            f"live in {home / 'series'})"
        ) from None
    return Located("run", layout.root, home)
