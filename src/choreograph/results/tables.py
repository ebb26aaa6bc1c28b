"""A finished (or running) run as pandas tables, for notebooks and for every report.

``choreograph.results.load(run_id_or_path)`` returns a :class:`RunData` with four
DataFrames — ``outcomes``, ``events``, ``metrics``, ``resources`` — read from the run
folder. pandas is imported when a table is built, never when this module is imported,
so the CLI and the engine pay nothing for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from choreograph.config import load_settings
from choreograph.errors import RunNotFoundError
from choreograph.results import merged_log, metric_frame, metrics
from choreograph.results.layout import RUN_JSON, RunLayout, find_run

if TYPE_CHECKING:
    import pandas as pd

METRIC_COLUMNS = metric_frame.COLUMNS


def locate_run(run: str | Path, runs_dir: Path | None = None) -> RunLayout:
    """A run folder (a path holding ``run.json``), or a run id / unique prefix in the home."""
    path = Path(run)
    if (path / RUN_JSON).is_file():
        path = path.resolve()
        return RunLayout(path.parent, path.name)
    return find_run(runs_dir or load_settings().runs_dir, str(run))


@dataclass
class RunData:
    """One run's facts. Tables are built on first use and kept."""

    layout: RunLayout
    record: dict[str, Any]

    @property
    def run_id(self) -> str:
        return self.layout.run_id

    @property
    def run_dir(self) -> Path:
        return self.layout.root

    @property
    def groups(self) -> list[str]:
        return [g["id"] for g in self.record.get("spec", {}).get("groups", [])]

    @property
    def status(self) -> str:
        return str(self.record.get("status", ""))

    def metric_rows(self, kinds: tuple[str, ...] = ("results",)) -> list[metrics.MetricRow]:
        return list(metrics.read_run(self.run_dir, self.groups, kinds))

    @cached_property
    def outcomes(self) -> pd.DataFrame:
        """One row per instance: group, instance, status, error, returncode, decided_by."""
        import pandas as pd

        instances = self.record.get("outcome", {}).get("instances", {})
        rows = [
            {"group": key.rpartition("/")[0], "instance": key, **fields}
            for key, fields in instances.items()
        ]
        columns = ["group", "instance", "status", "error", "returncode", "decided_by"]
        return pd.DataFrame(rows, columns=columns)

    @cached_property
    def events(self) -> pd.DataFrame:
        """Every event line of every ``run.out``: instance, seq, ts, kind, text, flags."""
        import pandas as pd

        rows = []
        for group, key, folder in metrics.instance_dirs(self.run_dir, self.groups):
            for line in merged_log.read_instance(key, folder / "run.out"):
                if line.event is not None:
                    rows.append(
                        {
                            "group": group,
                            "instance": key,
                            "seq": line.event.seq,
                            "ts": line.ts,
                            "kind": line.event.kind,
                            "text": merged_log.describe(line.event),
                            "out_of_sequence": "; ".join(line.flags),
                        }
                    )
        columns = ["group", "instance", "seq", "ts", "kind", "text", "out_of_sequence"]
        frame = pd.DataFrame(rows, columns=columns)
        frame["time"] = pd.to_datetime(frame["ts"], unit="ns", utc=True)
        return frame

    @cached_property
    def metrics(self) -> pd.DataFrame:
        """Results and diagnostics records, one row per observation (``kind`` tells which)."""
        return _timed(
            metric_frame.read_frame(self.run_dir, self.groups, ("results", "diagnostics"))
        )

    @cached_property
    def resources(self) -> pd.DataFrame:
        """The runner's samples: ``cpu_percent`` and ``rss_bytes`` per instance over time."""
        return _timed(metric_frame.read_frame(self.run_dir, self.groups, ("resources",)))

    def log_tail(self, instance: str, lines: int = 40) -> dict[str, str]:
        """The last ``lines`` of an instance's ``run.out`` and ``run.err``."""
        folder = self.layout.instance_dir(instance)
        out = {}
        for name in ("run.out", "run.err"):
            path = folder / name
            text = path.read_text(errors="replace") if path.is_file() else ""
            out[name] = "\n".join(text.splitlines()[-lines:])
        return out


def _timed(frame: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    frame["time"] = pd.to_datetime(frame["ts"], unit="ns", utc=True)
    return frame


def load(run: str | Path, runs_dir: Path | None = None) -> RunData:
    """A run by id (or unique prefix) in the home folder, or by its folder's path.

    >>> data = load("20261123-1948")          # doctest: +SKIP
    >>> data.metrics.groupby(["group", "name"])["value"].describe()  # doctest: +SKIP
    """
    layout = locate_run(run, runs_dir)
    if not layout.run_json.is_file():
        raise RunNotFoundError(f"{layout.root} has no {RUN_JSON}")
    return RunData(layout, layout.read_run_json())
