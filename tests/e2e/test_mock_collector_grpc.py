"""A composition with a mock collector over OTLP/gRPC (``protocol = "grpc"``): instances
export with OpenTelemetry's gRPC exporter, a group gets slow_fail collectors of its own
(speaking gRPC too), and the spans counted are results of the run, as over HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.integration.services.test_mock_collector import totals

from .conftest import Choreo

PLAN = Path(__file__).parent / "plans" / "mock-collector-grpc"

pytest.importorskip("grpc", reason="needs the grpc extra: pip install -e '.[grpc]'")


def test_spans_exported_over_grpc_are_results_of_the_run(choreo: Choreo, tmp_path: Path) -> None:
    comp = tmp_path / "composition.toml"
    comp.write_text(
        f'[global]\nplan = "{PLAN}"\ncase = "export"\n'
        '[[groups]]\nid = "clients"\ninstances = { count = 2 }\n'
        '[groups.run.test_params]\nexports = "4"\nspans = "3"\n'
        '[[groups]]\nid = "unlucky"\ninstances = { count = 1 }\n'
        '[groups.run.test_params]\nexports = "2"\nspans = "5"\nexpect = "failure"\n'
        'timeout = "1s"\n'
        '[[services]]\nname = "collector"\nkind = "mock-collector"\nprotocol = "grpc"\n'
        'instances = 2\ngroups = { unlucky = "slow_fail" }\n'
    )
    proc = choreo("run", "composition", "-f", str(comp), timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = choreo.runs()[-1]
    for group, expected in (("clients", "success"), ("unlucky", "failure")):
        out = (run_dir / group / "0" / "run.out").read_text()
        assert f"every export came to {expected}" in out, out
    for label in ("collector", "collector@unlucky"):
        log = (run_dir / "services" / label / "0" / "service.log").read_text()
        assert "protocol grpc" in log.splitlines()[0], log

    table = choreo("results", run_dir.name)
    assert table.returncode == 0, table.stdout + table.stderr
    assert "collector_spans" in table.stdout and "service:collector@unlucky" in table.stdout
    found = totals(run_dir)  # each collector's last total, summed per service group
    assert found[("service:collector", "collector_requests")] == 2 * 4
    assert found[("service:collector", "collector_spans")] == 2 * 4 * 3
    assert found[("service:collector", "collector_failed")] == 0
    assert found[("service:collector", "collector_bytes")] > 0
    # slow_fail answers UNAVAILABLE, which the exporter retries until its timeout.
    refused = found[("service:collector@unlucky", "collector_requests")]
    assert refused >= 2
    assert found[("service:collector@unlucky", "collector_failed")] == refused
    assert found[("service:collector@unlucky", "collector_spans")] == 5 * refused
