"""Memory of idle instances, Python with and without ``memory_merge``, and Go (prints figures).

Runs ``bench/plans/hold`` (Python: a barrier, a publish, then a wait on a subscription) and
its Go twin ``bench/plans/hold-go`` (sdk-go, built first, once) on ``local:exec`` at each
size, the Python plan once per mode (Go instances are exec'd, never merged), waits until
every instance is idle (each writes ``idle`` in its outputs folder) and, when merging, until
ksmd has stopped gaining, then reads every instance's PSS (``/proc/<pid>/smaps_rollup``),
the host's ``MemAvailable`` drop per instance (everything the run costs: instances, choreo,
its sync service), and ksmd's CPU time. Then it releases the instances and checks the run succeeded.

Run (root, KSM for ``on``): ``python bench/instance_memory.py [--instances 200,2000]
[--modes off,on] [--plans python,go]`` (Go needs ``go`` and the module proxy)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from choreograph.runners import memory_merge

PLANS = {
    "python": Path(__file__).parent / "plans" / "hold",
    "go": Path(__file__).parent / "plans" / "hold-go",
}
KSM = Path("/sys/kernel/mm/ksm")
TICK = os.sysconf("SC_CLK_TCK")


def composition(where: Path, plan: str, instances: int, mode: str, release: Path) -> Path:
    path = where / f"hold-{plan}-{instances}-{mode}.toml"
    path.write_text(
        f'[global]\nplan = "{PLANS[plan]}"\ncase = "hold"\ntotal_instances = {instances}\n'
        f'runner = "local:exec"\n\n[global.run_config]\nmemory_merge = "{mode}"\n'
        "sample_interval = 0\n\n"
        f'[[groups]]\nid = "g"\ninstances = {{ count = {instances} }}\n'
        f'  [groups.run]\n  test_params = {{ release_file = "{release}" }}\n'
    )
    return path


def available() -> int:
    return memory_merge.meminfo()["MemAvailable"]


def _stat_fields(pid: str) -> list[str]:
    """``/proc/<pid>/stat`` after the command name: field 3 (state) is index 0."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def ksmd_seconds() -> float:
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if Path(f"/proc/{entry}/comm").read_text().strip() == "ksmd":
                fields = _stat_fields(entry)
                return (int(fields[11]) + int(fields[12])) / TICK
        except OSError:
            continue
    return 0.0


def sharing() -> int:
    path = KSM / "pages_sharing"
    return int(path.read_text()) if path.exists() else 0


def instance_pids() -> list[int]:
    """Every instance: a child of a fork server (a ``_forkserver_main`` process whose parent
    is not one); exec'd instances no longer carry the server's command line."""
    parents: dict[int, int] = {}
    named: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            parents[int(entry)] = int(_stat_fields(entry)[1])
            if b"_forkserver_main" in Path(f"/proc/{entry}/cmdline").read_bytes():
                named.add(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    servers = {pid for pid in named if parents.get(pid) not in named}
    return [pid for pid, ppid in parents.items() if ppid in servers]


def pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def runs(home: Path) -> set[Path]:
    return set((home / "runs").glob("*")) if (home / "runs").exists() else set()


def wait_idle(
    home: Path, before: set[Path], instances: int, proc: subprocess.Popen[bytes]
) -> float:
    """Seconds until every instance of the run that is not in ``before`` is idle."""
    started = time.monotonic()
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"choreo ended early with {proc.returncode}")
        new = runs(home) - before
        if new and sum(1 for _ in new.pop().glob("g/*/idle")) >= instances:
            return time.monotonic() - started
        time.sleep(0.5)


def wait_merged(quiet_s: float = 10.0, limit_s: float = 900.0) -> None:
    """Until ksmd's pages_sharing has not grown by 1 % for ``quiet_s``."""
    started = time.monotonic()
    last, since = sharing(), time.monotonic()
    while time.monotonic() - started < limit_s:
        time.sleep(1.0)
        now = sharing()
        if now > last * 1.01:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return


def build(plan: str, home: Path) -> None:
    """Build the plan in ``home`` before anything is timed."""
    subprocess.run(
        [sys.executable, "-m", "choreograph.cli", "build", "single", "--plan", str(PLANS[plan])],
        env=dict(os.environ, CHOREO_HOME=str(home)),
        check=True,
        stdout=subprocess.DEVNULL,
    )


def measure(plan: str, instances: int, mode: str, work: Path) -> dict[str, float]:
    home = work / "home"
    release = work / f"release-{plan}-{instances}-{mode}"
    comp = composition(work, plan, instances, mode, release)
    before, ksmd_before, earlier = available(), ksmd_seconds(), runs(home)
    began = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "choreograph.cli", "run", "composition", "-f", str(comp)],
        env=dict(os.environ, CHOREO_HOME=str(home)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        idle_s = wait_idle(home, earlier, instances, proc)
        if mode == "on":
            wait_merged()
        else:
            time.sleep(5.0)
        pss = [pss_kib(pid) for pid in instance_pids()]
        figures = {
            "measured": float(len(pss)),
            "idle_s": idle_s,
            "settled_s": time.monotonic() - began,
            "pss_mb": sum(pss) / max(1, len(pss)) / 1024,
            "avail_drop_mb": (before - available()) / instances / 2**20,
            "ksmd_cpu_s": ksmd_seconds() - ksmd_before,
        }
        release.write_text("")
        figures["ok"] = float(proc.wait(timeout=600) == 0)
        return figures
    finally:
        release.touch()
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", default="200,2000")
    parser.add_argument("--modes", default="off,on")
    parser.add_argument("--plans", default="python,go")
    args = parser.parse_args()
    modes = args.modes.split(",")
    plans = args.plans.split(",")
    if "on" in modes and (problem := memory_merge.unavailable()):
        raise SystemExit(f"memory_merge = on needs KSM: {problem}")
    print(
        f"{'plan':>6} {'instances':>9} {'mode':>4} {'idle after':>10} {'settled':>8} "
        f"{'PSS/inst':>9} {'avail/inst':>10} {'ksmd CPU':>9} {'run':>4}"
    )
    with tempfile.TemporaryDirectory(prefix="choreo-memory-") as tmp:
        for plan in plans:
            build(plan, Path(tmp) / "home")
            for size in (int(n) for n in args.instances.split(",")):
                for mode in modes if plan == "python" else ["off"]:
                    f = measure(plan, size, mode, Path(tmp))
                    note = "" if f["measured"] == size else f"  (PSS of {f['measured']:.0f} read)"
                    print(
                        f"{plan:>6} {size:>9} {mode:>4} {f['idle_s']:>9.1f}s "
                        f"{f['settled_s']:>7.1f}s {f['pss_mb']:>6.2f} MB "
                        f"{f['avail_drop_mb']:>7.2f} MB {f['ksmd_cpu_s']:>8.1f}s "
                        f"{'ok' if f['ok'] else 'FAIL':>4}{note}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
