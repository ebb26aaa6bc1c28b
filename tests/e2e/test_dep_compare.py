"""`choreo compare` tells two releases of a dependency apart, in one run.

examples/dep-compare: group v1 installs choreo-demo-digest 1.0 (pure Python), group v2
installs 2.0 (zlib's C code); both compute the same checksums and time each call.
"""

from __future__ import annotations

from .conftest import EXAMPLES, Choreo


def test_compare_finds_the_faster_release(choreo: Choreo) -> None:
    proc = choreo(
        "run", "composition", "-f", str(EXAMPLES / "dep-compare" / "compare.toml"), timeout=600
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    record = choreo.last_run()
    versions = {
        g: b["provenance"]["versions"]["choreo-demo-digest"] for g, b in record["builds"].items()
    }
    assert versions == {"v1": "1.0", "v2": "2.0"}

    proc = choreo("compare", record["run_id"], "--groups", "v1", "v2", "--metric", "digest_time")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    verdict = " ".join(proc.stdout.split())
    assert "verdict: B is significantly lower than A" in verdict
