"""Go plans: cold and warm `exec:go` build time, and a 50-instance run from `choreo run`
to outcome.

Usage: python3 bench/build_bench.py [--instances 50]

Cold: an empty CHOREO_HOME, so the module download and the whole compile happen (the Go
caches live under the build cache). Warm-cache: a source change forces a new build, but
the module and compile caches are warm. Cached: nothing changed, the build is reused.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PLAN = Path(__file__).resolve().parents[1] / "tests" / "compat" / "go" / "plans" / "outcomes"


def choreo(home: Path, *args: str) -> tuple[float, dict[str, object]]:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "choreograph.cli", *args],
        env=dict(os.environ, CHOREO_HOME=str(home)),
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"choreo {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    runs = sorted((home / "runs").iterdir())
    return elapsed, json.loads((runs[-1] / "run.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home, plan = Path(tmp) / "home", Path(tmp) / "plan"
        shutil.copytree(PLAN, plan)
        single = ("run", "single", "--plan", str(plan), "--case", "success")
        cold, _ = choreo(home, *single, "-i", "1")
        print(f"cold build + 1 instance:        {cold:6.2f} s")
        (plan / "touch.go").write_text("package main\n\nconst touched = 1\n")
        warm, _ = choreo(home, *single, "-i", "1")
        print(f"rebuild, warm Go caches + run:  {warm:6.2f} s")
        cached, record = choreo(home, *single, "-i", "1")
        builds = record["builds"]
        assert isinstance(builds, dict) and builds["single"]["from_cache"]
        print(f"unchanged plan (cached) + run:  {cached:6.2f} s")
        many, record = choreo(home, *single, "-i", str(args.instances))
        print(
            f"{args.instances} instances, cached build:   {many:6.2f} s "
            f"(run {record['seconds']} s by run.json)"
        )


if __name__ == "__main__":
    main()
