"""A composition with a mock collector service: instances export traces to it, a group
gets collectors of its own in another mode, and the counters are results of the run."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from .conftest import Choreo

PLAN = Path(__file__).parent / "plans" / "mock-collector"


def test_counters_of_mock_collectors_are_results_of_the_run(choreo: Choreo, tmp_path: Path) -> None:
    comp = tmp_path / "composition.toml"
    comp.write_text(
        f'[global]\nplan = "{PLAN}"\ncase = "export"\n'
        '[[groups]]\nid = "clients"\ninstances = { count = 2 }\n'
        '[groups.run.test_params]\nexports = "4"\nspans = "3"\n'
        '[[groups]]\nid = "unlucky"\ninstances = { count = 1 }\n'
        '[groups.run.test_params]\nexports = "2"\nspans = "5"\nexpect_status = "503"\n'
        '[[services]]\nname = "collector"\nkind = "mock-collector"\nmode = "typical"\n'
        'instances = 2\ngroups = { unlucky = "slow_fail" }\n'
    )
    proc = choreo("run", "composition", "-f", str(comp))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = choreo.runs()[-1]
    assert "2 collectors answered 200" in (run_dir / "clients" / "0" / "run.out").read_text()
    assert "2 collectors answered 503" in (run_dir / "unlucky" / "0" / "run.out").read_text()

    table = choreo("results", run_dir.name)
    assert table.returncode == 0, table.stdout + table.stderr
    assert "collector_requests" in table.stdout and "service:collector@unlucky" in table.stdout

    export = choreo("results", run_dir.name, "--format", "csv")
    assert export.returncode == 0, export.stderr
    last: dict[tuple[str, str, str], tuple[int, float]] = {}  # each collector's last total
    for row in csv.DictReader(io.StringIO(export.stdout)):
        key = (row["group"], row["instance"], row["name"])
        seen = (int(row["ts"]), float(row["value"]))
        if row["type"] == "counter" and seen >= last.get(key, seen):
            last[key] = seen
    totals: dict[tuple[str, str], float] = {}
    for (group, _, name), (_, value) in last.items():
        totals[(group, name)] = totals.get((group, name), 0.0) + value
    assert totals[("service:collector", "collector_requests")] == 2 * 4
    assert totals[("service:collector", "collector_spans")] == 2 * 4 * 3
    assert totals[("service:collector", "collector_failed")] == 0
    assert totals[("service:collector@unlucky", "collector_requests")] == 2
    assert totals[("service:collector@unlucky", "collector_spans")] == 2 * 5
    assert totals[("service:collector@unlucky", "collector_failed")] == 2
