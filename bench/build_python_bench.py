"""exec:python build times: cold (empty build cache) and warm (an unchanged plan built
again), for the mixed-versions example's dependency sets and for a plan on the host
interpreter; then the same seen from the CLI, as "build time inside `choreo run`".

Usage: python3 bench/build_python_bench.py [--repeat 20] [--cold-cache] [--pip]

``--cold-cache`` also gives uv an empty package cache (downloads from the registry);
by default uv's own cache is warm, so "cold" measures Choreograph's work: creating the
environment, linking the SDK, installing from cache, compiling bytecode, freezing.
``--pip`` adds the fallback installer (``python -m venv`` + pip) for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from choreograph.builds import build_each
from choreograph.config import Settings
from choreograph.plan import load_composition, load_manifest, resolve_composition
from choreograph.plan.spec import RunSpec

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "mixed-versions"
HOST_PLAN = Path(__file__).resolve().parents[1] / "examples" / "sync"


def spec_for(composition: str) -> RunSpec:
    comp = load_composition(EXAMPLE / composition)
    manifest = load_manifest(EXAMPLE / "manifest.toml")
    (spec,) = resolve_composition(
        comp, manifest, EXAMPLE, test_params={}, builder=None, runner=None
    )
    return spec


def host_spec() -> RunSpec:
    spec = spec_for("versions.toml")
    group = replace(spec.groups[0], id="host", dependencies=())
    return replace(spec, plan="sync", plan_dir=HOST_PLAN, groups=(group,))


def with_installer(spec: RunSpec, installer: str) -> RunSpec:
    groups = tuple(
        replace(g, build_config={**g.build_config, "installer": installer}) for g in spec.groups
    )
    return replace(spec, groups=groups)


def build_seconds(spec: RunSpec, home: Path) -> float:
    started = time.perf_counter()
    asyncio.run(build_each(spec, Settings(home=home), lambda _: None))
    return time.perf_counter() - started


def measure(label: str, spec: RunSpec, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as home:
        cold = build_seconds(spec, Path(home))
        warm = [build_seconds(spec, Path(home)) for _ in range(repeat)]
    median = statistics.median(warm) * 1000
    print(f"{label:<44} cold {cold * 1000:8.1f} ms   warm median {median:6.2f} ms", end="")
    print(f" (max {max(warm) * 1000:.2f})")


def cli_build_times(repeat: int) -> None:
    """``choreo run composition`` twice per home: the seconds its progress reports."""
    firsts, seconds, walls = [], [], []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as home:
            env = dict(os.environ, CHOREO_HOME=home, COLUMNS="200", NO_COLOR="1")
            for attempt in range(2):
                argv = ["choreo", "run", "composition", "-f", str(EXAMPLE / "versions.toml")]
                argv[0:1] = [sys.executable, "-m", "choreograph.cli"]
                started = time.perf_counter()
                out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
                wall = time.perf_counter() - started
                built = [float(s) for s in re.findall(r"built in ([\d.]+)s", out.stdout)]
                if attempt == 0:
                    firsts.append(sum(built))
                else:
                    seconds.append(out.stdout.count("cached"))
                    walls.append(wall)
    print(
        f"choreo run (2 groups): first run building {statistics.median(firsts):.2f} s; "
        f"second run: {min(seconds)}/2 builds cached, whole run "
        f"{statistics.median(walls):.2f} s wall (CLI start-up and instances included)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--cold-cache", action="store_true")
    parser.add_argument("--pip", action="store_true")
    args = parser.parse_args()

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores")
    measure("host interpreter (examples/sync, no deps)", host_spec(), args.repeat)
    measure("2 venvs: packaging 21.3 | 24.2", spec_for("versions.toml"), args.repeat)
    measure("2 venvs: packaging 24.2 | local checkout", spec_for("local.toml"), args.repeat)
    if args.cold_cache:
        with tempfile.TemporaryDirectory() as cache:
            os.environ["UV_CACHE_DIR"] = cache
            measure("2 venvs, empty uv cache (downloads)", spec_for("versions.toml"), 3)
            del os.environ["UV_CACHE_DIR"]
    if args.pip:
        measure("2 venvs with venv + pip", with_installer(spec_for("versions.toml"), "pip"), 3)
    cli_build_times(max(1, min(args.repeat, 3)))


if __name__ == "__main__":
    main()
