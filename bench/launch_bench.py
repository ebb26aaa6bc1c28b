"""Launch overhead: wall time from `choreo run` to the final outcome for N trivial
Python instances, and what each extra instance costs.

Usage: python3 bench/launch_bench.py [--sizes 1,50,200] [--repeat 3] [--launcher fork|exec]

``--launcher exec`` starts one interpreter per instance instead of forking them from the
preloaded fork server (the default), to show what the fork server saves.

Overhead per instance = (T(N) - T(1)) / (N - 1): the fixed cost of the CLI, imports and
sync service cancels out. A bare interpreter start is printed beside it for scale.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PLAN = Path(__file__).parent / "plans" / "trivial"


def plan_copy(launcher: str, where: Path) -> Path:
    """The trivial plan with ``[runners."local:exec"] launcher`` set as asked."""
    target = where / f"trivial-{launcher}"
    shutil.copytree(PLAN, target)
    manifest = target / "manifest.toml"
    text = manifest.read_text().replace(
        '[runners."local:exec"]', f'[runners."local:exec"]\nlauncher = "{launcher}"'
    )
    manifest.write_text(text)
    return target


def run_once(n: int, home: str, plan: Path) -> float:
    env = dict(os.environ, CHOREO_HOME=home)
    started = time.perf_counter()
    proc = subprocess.run(
        ["choreo", "run", "single", "--plan", str(plan), "--case", "noop", "-i", str(n)],
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"run of {n} instances failed:\n{proc.stdout}\n{proc.stderr}")
    return elapsed


def bare_interpreter_ms(repeat: int = 20) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        subprocess.run([sys.executable, "-c", "pass"], check=True)
    return (time.perf_counter() - started) / repeat * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,50,200")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--launcher", choices=("fork", "exec"), default="fork")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as home:
        plan = plan_copy(args.launcher, Path(home))
        print(f"launcher: {args.launcher}")
        medians = {}
        for n in sizes:
            times = [run_once(n, home, plan) for _ in range(args.repeat)]
            medians[n] = statistics.median(times)
            print(
                f"{n:5d} instances: median {medians[n]:6.2f} s  "
                f"(runs: {', '.join(f'{t:.2f}' for t in times)})",
                flush=True,
            )
    base = medians.get(1)
    print(f"bare `python -c pass`: {bare_interpreter_ms():.1f} ms")
    if base is not None:
        for n in sizes:
            if n > 1:
                per = (medians[n] - base) / (n - 1) * 1000
                print(f"overhead per instance at {n}: {per:.1f} ms (target <= 40 ms at 200)")


if __name__ == "__main__":
    main()
