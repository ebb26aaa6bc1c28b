"""`choreo logs`: per instance, merged by time with out-of-sequence events flagged, followed."""

from __future__ import annotations

import json
import time
from pathlib import Path

from .conftest import EXAMPLES, Choreo

PLAN = str(EXAMPLES / "metrics")


def test_merged_log_flags_a_planted_out_of_sequence_event(choreo: Choreo) -> None:
    proc = choreo("run", "single", "--plan", PLAN, "--case", "noisy", "-i", "3")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = choreo.runs()[-1]

    clean = choreo("logs", run_dir.name, "--merged")
    assert clean.returncode == 0 and "out of sequence" not in clean.stdout + clean.stderr
    stamped = [line for line in clean.stdout.splitlines() if "#" in line]
    assert len(stamped) == 6  # start + success per instance
    times = [line.split()[0] for line in stamped]
    assert times == sorted(times)  # interleaved by time

    # Plant an event on instance 1: it reuses seq 1 and is stamped before its last event.
    out = run_dir / "single/1/run.out"
    last = json.loads(out.read_text().splitlines()[-1])
    planted = {
        "ts": last["ts"] - 5_000_000,
        "seq": 1,
        "instance": "single/1",
        "event": {"message_event": {"message": "planted by the test"}},
    }
    with out.open("a") as stream:
        stream.write(json.dumps(planted) + "\n")

    merged = choreo("logs", run_dir.name, "--merged")
    flagged = [line for line in merged.stdout.splitlines() if "!!" in line]
    assert len(flagged) == 1 and "planted by the test" in flagged[0]
    assert "reversal: seq 1 after 2" in flagged[0]
    assert "time went back 5.000 ms" in flagged[0]
    assert "single/1" in flagged[0]
    assert "1 line(s) out of sequence" in merged.stderr

    one = choreo("logs", run_dir.name, "--instance", "single/1")
    assert "planted by the test" in one.stdout and "!!" in one.stdout
    assert "single/0" not in one.stdout
    unknown = choreo("logs", run_dir.name, "--instance", "single/9")
    assert unknown.returncode == 2 and "single/0, single/1, single/2" in unknown.stderr


def test_follow_prints_until_the_run_ends(choreo: Choreo) -> None:
    runner = choreo.popen(
        "run", "single", "--plan", PLAN, "--case", "work", "-i", "2",
        "--tp", "ops=60", "--tp", "delay=40ms",
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not choreo.runs() and time.monotonic() < deadline:
            time.sleep(0.05)
        run_dir: Path = choreo.runs()[-1]
        assert json.loads((run_dir / "run.json").read_text())["status"] != "success"
        follow = choreo("logs", run_dir.name, "--follow", "--merged", timeout=60)
        # It returned by itself, and only once the run had ended.
        assert runner.wait(timeout=30) == 0
        assert json.loads((run_dir / "run.json").read_text())["status"] == "success"
        assert follow.returncode == 0
        assert follow.stdout.count("SUCCESS") == 2 and follow.stdout.count(" start") == 2
    finally:
        runner.kill()
        runner.wait()
