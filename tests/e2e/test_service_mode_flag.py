"""``--service-mode NAME=MODE`` changes a mock collector's mode for one run, without
editing the composition: the instances see the new mode's answers, the collector counts
them, ``run.json`` records it, and a group's own collectors keep their mode."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import Choreo

PLAN = Path(__file__).parent / "plans" / "mock-collector"


def composition(tmp_path: Path) -> Path:
    """``clients`` expects 503 from the (typical) shared collector: it fails unless the run
    makes that collector slow_fail; ``steady`` has a typical collector of its own."""
    comp = tmp_path / "composition.toml"
    comp.write_text(
        f'[global]\nplan = "{PLAN}"\ncase = "export"\n'
        '[[groups]]\nid = "clients"\ninstances = { count = 2 }\n'
        '[groups.run.test_params]\nexports = "2"\nspans = "3"\nexpect_status = "503"\n'
        '[[groups]]\nid = "steady"\ninstances = { count = 1 }\n'
        '[groups.run.test_params]\nexports = "2"\nspans = "1"\n'
        '[[services]]\nname = "collector"\nkind = "mock-collector"\nmode = "typical"\n'
        'groups = { steady = "typical" }\n'
    )
    return comp


def last_counters(metrics: Path) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in metrics.read_text().splitlines():
        record = json.loads(line)
        if record["type"] == "counter":
            out[record["name"]] = record["value"]
    return out


def test_the_flag_changes_the_mode_of_one_run(choreo: Choreo, tmp_path: Path) -> None:
    comp = composition(tmp_path)
    as_written = choreo("run", "composition", "-f", str(comp))
    assert as_written.returncode == 1, as_written.stdout + as_written.stderr
    assert "got 200, expected 503" in (choreo.runs()[-1] / "clients" / "0" / "run.out").read_text()

    proc = choreo("run", "composition", "-f", str(comp), "--service-mode", "collector=slow_fail")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = choreo.runs()[-1]
    (service,) = json.loads((run_dir / "run.json").read_text())["spec"]["services"]
    assert service["mock"]["mode"] == "slow_fail"
    assert service["group_mocks"] == {"steady": {"mode": "typical"}}
    shared = last_counters(run_dir / "services" / "collector" / "0" / "metrics.out")
    assert shared["collector_requests"] == shared["collector_failed"] == 2 * 2
    assert shared["collector_spans"] == 2 * 2 * 3
    own = last_counters(run_dir / "services" / "collector@steady" / "0" / "metrics.out")
    assert (own["collector_requests"], own["collector_failed"]) == (2, 0)
    assert 'mode = "typical"' in comp.read_text()  # the file is left as it was


def test_what_cannot_be_overridden_exits_2(choreo: Choreo, tmp_path: Path) -> None:
    comp = composition(tmp_path)
    runs = len(choreo.runs())
    for flag, words in [
        ("nope=slow_fail", "no service 'nope'; its mock-collectors: collector"),
        ("collector=fast", "expected a mode in typical, slow_succeed, slow_fail"),
        ("collector", "expected NAME=MODE"),
    ]:
        proc = choreo("run", "composition", "-f", str(comp), "--service-mode", flag)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert words in " ".join((proc.stdout + proc.stderr).split())
    single = choreo("run", "single", "-p", str(PLAN), "-c", "export", "--service-mode", "x=typical")
    assert single.returncode == 2 and "no mock-collector" in single.stdout + single.stderr
    assert len(choreo.runs()) == runs  # nothing was started
