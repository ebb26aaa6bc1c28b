"""Whole runs of Testground's placebo/ok plan on both tools, with the builds made beforehand.

The plan is copied from the Testground checkout once and both tools run that copy (its
manifest's instance limit, 200 for ``ok``, is raised to the largest count asked for, since
the 1,000-instance row is the issue's target). Each tool builds it once before any timed
run (exec:go, warm Go caches for both); a run is then timed from the command's start to its
exit: Choreograph's ``choreo run single`` (which starts the run's own sync service) against
Testground's ``testground run single --use-build`` through its daemon (whose sync service
runs all along). Runs alternate between the tools, ``reps`` each per instance count.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from .cpu import Measured, run_choreo
from .table import Row, Target


def plan_copy(source: Path, where: Path, instances: int) -> Path:
    target = where / "placebo"
    shutil.copytree(source, target, symlinks=True)
    manifest = target / "manifest.toml"
    text = manifest.read_text()
    # Only the `ok` case's limit: `name = "ok"` then its `instances = { … max = 200 … }`.
    text = re.sub(
        r'(name = "ok"\s*\ninstances = \{[^}]*max = )(\d+)',
        lambda m: m.group(1) + str(max(int(m.group(2)), instances)),
        text,
    )
    manifest.write_text(text)
    return target


class ChoreographRuns:
    def __init__(self, plan: Path, home: Path) -> None:
        self.plan = plan
        self.env = dict(os.environ, CHOREO_HOME=str(home))

    def _choreo(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["choreo", *args], env=self.env, capture_output=True, text=True, timeout=1800
        )

    def build(self) -> float:
        started = time.perf_counter()
        proc = self._choreo("build", "single", "--plan", str(self.plan), "--builder", "exec:go")
        if proc.returncode != 0:
            raise RuntimeError(f"choreo build failed: {proc.stdout[-800:]}{proc.stderr[-800:]}")
        return time.perf_counter() - started

    def run(self, instances: int) -> Measured:
        argv = ["choreo", "run", "single", "--plan", str(self.plan), "--testcase", "ok"]
        argv += ["--builder", "exec:go", "--runner", "local:exec", "-i", str(instances)]
        measured, proc = run_choreo(argv, self.env, timeout=1800)
        if proc.returncode != 0:
            tail = proc.stdout.strip().splitlines()[-6:]
            raise RuntimeError(f"choreo run of {instances} failed: {' | '.join(tail)}")
        return measured


Runner = Callable[[int], Measured]


def compare(
    counts: list[int],
    reps: int,
    ours: Runner,
    theirs: Runner | None,
    theirs_missing: str,
    say: Callable[[str], None],
) -> list[Row]:
    """Median wall times, and the CPU of the tool and of the instances per instance, per
    instance count; ``theirs`` None means Testground could not run."""
    sides: dict[str, Runner] = {"choreograph": ours}
    if theirs is not None:
        sides["testground"] = theirs
    warm_failed: dict[str, str] = {}
    for side, runner in sides.items():  # one untimed run each: page cache, docker, go caches
        try:
            runner(1)
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            warm_failed[side] = str(e)
            say(f"  {side}, warm-up run: {e}")
    rows = []
    for n in counts:
        runs: dict[str, list[Measured]] = {side: [] for side in sides}
        failed = dict(warm_failed)
        for rep in range(reps):
            order = list(sides) if rep % 2 == 0 else list(sides)[::-1]
            for side in order:
                if side in failed:
                    continue
                try:
                    runs[side].append(sides[side](n))
                except (RuntimeError, subprocess.TimeoutExpired) as e:
                    failed[side] = str(e)
                    say(f"  {side}, {n} instances: {e}")
        shown = "; ".join(
            f"{side} " + " ".join(f"{m.wall:.2f}" for m in ms) for side, ms in runs.items() if ms
        )
        say(f"  {n} instances, wall: {shown} s")
        for side, ms in runs.items():
            if ms:
                cpu = ", ".join(f"{m.tool_cpu:.2f} + {m.instances_cpu:.2f}" for m in ms)
                say(f"    {side} CPU s (tool + instances): {cpu}")
        note = failed.get("testground") or failed.get("choreograph") or ""
        if theirs is None:
            note = theirs_missing
        rows += _rows(n, runs, note)
    return rows


def _rows(n: int, runs: dict[str, list[Measured]], note: str) -> list[Row]:
    """The wall time (the issue's target at 1,000) and the CPU split, per instance."""
    label = f"{n:,} instance{'s' if n > 1 else ''}"

    def median(side: str, figure: Callable[[Measured], float]) -> float | None:
        measured = runs.get(side) or []
        return statistics.median(figure(m) for m in measured) if measured else None

    figures: list[tuple[str, str, Callable[[Measured], float], Target | None]] = [
        (
            f"whole run, placebo/ok, {label}",
            "s",
            lambda m: m.wall,
            Target(0.5, at_least=False, on_ratio=True) if n == 1000 else None,
        ),
        (f"  CPU of the tool, per instance, {label}", "ms", lambda m: 1000 * m.tool_cpu / n, None),
        (
            f"  CPU of the instances, per instance, {label}",
            "ms",
            lambda m: 1000 * m.instances_cpu / n,
            None,
        ),
    ]
    return [
        Row(measure, unit, median("choreograph", f), median("testground", f), target, note)
        for measure, unit, f, target in figures
    ]
