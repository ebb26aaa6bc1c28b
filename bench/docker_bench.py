"""What a container per instance costs: ``docker:*`` builds, ``local:docker`` start-up
against ``local:netns`` in the same invocation, and the memory of an idle container
(prints figures only; needs root and a running Docker engine).

Why: ``local:docker`` gives each instance an image and a container where ``local:netns``
gives it a process in a namespace; the same plan, the same data network and the same
sync service run under both, so the difference between the two is the price of Docker.

1. Builds, with the Python API (``build_each``, as ``choreo build single`` does) on a copy
   of ``bench/plans/signal`` (and ``tests/compat/go/plans/outcomes`` for ``docker:go``):

   * new key, default base image: a file of the copy is changed, so the content key (and
     the image tag) is new; Docker's layer cache may still hold the steps that do not
     depend on the plan (the venv, the SDK), and how many steps it reused is printed;
   * new key, fresh base image: the base image is re-labelled (``FROM base`` +
     ``LABEL``, a new image id), so no layer of the build can come from Docker's cache:
     the cold build a new host or a new base image sees;
   * cached: the same key again is one ``docker image inspect``, no build (median of
     ``--repeat``), and the same seen from ``choreo build single`` (interpreter start-up
     included).

   A ``docker:go`` build is given ``--go-limit`` seconds (120); past that Go is skipped
   and the output says so. ``--quick`` skips Go.
2. Start-up: the plan's ``signal`` case (every instance signals one state and exits) with
   N instances (10 and 100) under ``exec:python`` + ``local:netns`` (the anchor) and
   ``docker:python`` + ``local:docker`` at ``start_concurrency`` 8 (the default) and 16,
   interleaved, ``--repeat`` times each after one warm-up run each. From the run folder:
   ``run.json`` ``started`` (taken before the build lookup) is time zero; each instance's
   ``run.out`` gives its ``start_event`` (its SDK is up), ``network initialization
   complete`` and ``success_event``; the runner's "containers created: N/N" line is
   time-stamped as it is printed. Per-instance overhead = (docker - netns) / N of the
   medians; ratio = docker / netns.
3. Memory of idle containers: ``--containers`` containers each of ``busybox:1.36-glibc``
   and ``python:3.11-slim-bookworm`` running ``sleep``, and of the plan's image running
   an idle interpreter with the SDK imported, each read from its memory cgroup (usage,
   anonymous rss, page cache, kernel memory), plus its ``containerd-shim`` process (RSS
   and USS: the shim's own pages) and the growth of ``dockerd`` + ``containerd``; a host
   process doing the same (``sleep``, the idle interpreter) is the anchor.

Every container, image tag and temporary home it makes is removed at the end, whatever
happens; the plan's runs are checked for leftover containers, networks and namespaces.

Run: ``sudo python3 bench/docker_bench.py [--quick] [--sizes 10 100] [--repeat 3]
[--concurrency 8 16] [--containers 10] [--go-limit 120] [--no-go]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil

from choreograph import progress
from choreograph.builds import build_each
from choreograph.config import Settings
from choreograph.containers.images import GO_BUILD_IMAGE, PYTHON_IMAGE, RUNTIME_IMAGE
from choreograph.net.addresses import run_tag
from choreograph.plan import load_manifest, resolve_single

HERE = Path(__file__).resolve().parent
SIGNAL_PLAN = HERE / "plans" / "signal"
GO_PLAN = HERE.parent / "tests" / "compat" / "go" / "plans" / "outcomes"
BENCH_LABEL = "choreograph.bench"
DEFAULT_CONCURRENCY = 8
"""``local:docker``'s own default ``start_concurrency``: left out of the run config."""
IDLE_PYTHON = "import time, choreograph.sdk; time.sleep(600)"
MIB = 1024 * 1024


def say(text: str = "") -> None:
    print(text, flush=True)


# --- Docker and the host -------------------------------------------------------------


def docker(*args: str, check: bool = True, stdin: str | None = None) -> str:
    proc = subprocess.run(
        ["docker", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, "DOCKER_BUILDKIT": "0"},
    )
    if check and proc.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:3])} …: {proc.stderr.strip()}")
    return proc.stdout


def preflight(need_go: bool) -> dict[str, Any]:
    """Docker's facts, or exit (non-zero) saying what is missing."""
    if shutil.which("docker") is None:
        sys.exit("docker_bench: the `docker` command is not installed")
    if os.geteuid() != 0:
        sys.exit(
            "docker_bench: needs root (local:netns and local:docker make namespaces and "
            "move interfaces): sudo python3 bench/docker_bench.py"
        )
    proc = subprocess.run(
        ["docker", "info", "--format", "{{json .}}"], capture_output=True, text=True
    )
    info = json.loads(proc.stdout) if proc.returncode == 0 and proc.stdout.strip() else {}
    if not info.get("ServerVersion"):
        reason = (proc.stderr or proc.stdout).strip() or f"exit status {proc.returncode}"
        sys.exit(f"docker_bench: the Docker engine is not reachable: {reason}")
    wanted = [PYTHON_IMAGE, RUNTIME_IMAGE] + ([GO_BUILD_IMAGE] if need_go else [])
    missing = [i for i in wanted if not docker("image", "inspect", i, check=False).strip()]
    if missing:
        sys.exit(
            f"docker_bench: image(s) {', '.join(missing)} missing: run `choreo images "
            "prepare` first (no registry needed)"
        )
    return info


def machine(info: dict[str, Any]) -> str:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = psutil.virtual_memory().total / 1024**3
    return (
        f"{os.cpu_count()} cores ({model or platform.machine()}), {memory:.1f} GiB, "
        f"Linux {platform.release()}; Docker {info.get('ServerVersion')} "
        f"({info.get('Driver')}, cgroup driver {info.get('CgroupDriver')}, cgroup "
        f"v{info.get('CgroupVersion')}); Python {platform.python_version()}"
    )


class Leftovers:
    """Everything this benchmark makes in Docker or on the host, undone in ``close``."""

    def __init__(self, nonce: str) -> None:
        self.nonce = nonce
        self.images: list[str] = []
        self.containers: list[str] = []
        self.processes: list[subprocess.Popen[bytes]] = []

    def close(self) -> None:
        for proc in self.processes:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait()
        labelled = docker("ps", "-aq", "--filter", f"label={BENCH_LABEL}={self.nonce}", check=False)
        ids = sorted({*self.containers, *labelled.split()})
        if ids:
            docker("rm", "-f", "-v", *ids, check=False)
        # Newest first: an image built on a fresh base goes before its base.
        for image in reversed(dict.fromkeys(i for i in self.images if i)):
            out = subprocess.run(["docker", "rmi", image], capture_output=True, text=True)
            if out.returncode != 0 and "No such image" not in out.stderr:
                say(f"warning: could not remove image {image}: {out.stderr.strip()}")


def fresh_base(base: str, leftovers: Leftovers) -> str:
    """``base`` with one more label: a new image id, so nothing built on it is cached."""
    name = base.split(":")[0].rsplit("/", 1)[-1]
    tag = f"choreo-bench/{name}:{leftovers.nonce}"
    leftovers.images.append(tag)
    docker(
        "build",
        "--quiet",
        "--tag",
        tag,
        "-",
        stdin=f"FROM {base}\nLABEL {BENCH_LABEL}={leftovers.nonce}\n",
    )
    return tag


# --- 1. builds -------------------------------------------------------------------------


@dataclass
class BuildFigure:
    label: str
    seconds: float | None  # None: over the time limit
    from_cache: bool = False
    steps: int = 0
    reused: int = 0
    first_rebuilt: str = ""
    image: str = ""
    bases: dict[str, str] = field(default_factory=dict)
    note: str = ""

    def layers(self) -> str:
        if self.note:
            return self.note
        if self.seconds is None:
            return "stopped at the time limit"
        if self.from_cache:
            return "no docker build (image tag exists)"
        text = f"{self.reused}/{self.steps} steps from Docker's layer cache"
        return text + (f"; first rebuilt: {self.first_rebuilt}" if self.first_rebuilt else "")


def plan_copy(source: Path, target: Path, *, nonce: str = "", config: str = "") -> Path:
    """A copy of ``source``; ``nonce`` changes a file (a new content key), ``config``
    is added to the manifest under ``[builders."…"]`` (``builder|key = "value"``)."""
    shutil.copytree(source, target)
    if nonce:
        if (target / "go.mod").exists():
            (target / "bench_nonce.go").write_text(
                f'package main\n\nconst benchNonce = "{nonce}"\n'
            )
        else:
            with (target / "main.py").open("a") as main:
                main.write(f"\n# docker_bench {nonce}\n")
    if config:
        builder, _, setting = config.partition("|")
        manifest = target / "manifest.toml"
        header = f'[builders."{builder}"]'
        text = manifest.read_text()
        if header in text:
            text = text.replace(header, f"{header}\n{setting}", 1)
        else:
            text += f"\n{header}\n{setting}\n"
        manifest.write_text(text)
    return target


def build(plan: Path, builder: str, home: Path, label: str, limit: float) -> BuildFigure:
    """One build of ``plan`` through ``build_each``, timed; None seconds past ``limit``."""
    manifest = load_manifest(plan / "manifest.toml")
    spec = resolve_single(
        manifest,
        plan,
        case=manifest.testcases[0].name,
        instances=None,
        test_params={},
        builder=builder,
        runner=None,
        manifest_file=str(plan / "manifest.toml"),
    )
    lines: list[str] = []

    def sink(event: object) -> None:
        if isinstance(event, progress.BuildLog):
            lines.append(event.line.split("] ", 1)[-1])

    started = time.perf_counter()
    try:
        (outcome,) = asyncio.run(
            asyncio.wait_for(build_each(spec, Settings(home=home), sink), limit)
        )
    except TimeoutError:
        return BuildFigure(label, None)
    seconds = time.perf_counter() - started
    figure = BuildFigure(label, seconds, outcome.artifact.from_cache)
    figure.image = outcome.artifact.image or ""
    figure.bases = dict(outcome.artifact.provenance.get("base_images") or {})
    figure.steps, figure.reused, figure.first_rebuilt = layer_cache(lines)
    return figure


def layer_cache(lines: Sequence[str]) -> tuple[int, int, str]:
    """From the legacy builder's output: steps that can come from the layer cache (not
    ``FROM``, nor an ``ARG`` before the first ``FROM``), how many did, and the first that
    did not."""
    steps: list[list[Any]] = []  # [line, countable, cached]
    seen_from = False
    for line in lines:
        if found := re.match(r"Step \d+/\d+ : (\w+)", line):
            instruction = found.group(1).upper()
            countable = instruction != "FROM" and (seen_from or instruction != "ARG")
            seen_from = seen_from or instruction == "FROM"
            steps.append([line, countable, False])
        elif "Using cache" in line and steps:
            steps[-1][2] = True
    countable = [s for s in steps if s[1]]
    rebuilt = [s[0] for s in countable if not s[2]]
    return len(countable), sum(1 for s in countable if s[2]), rebuilt[0] if rebuilt else ""


def measure_builds(
    args: argparse.Namespace, tmp: Path, leftovers: Leftovers
) -> tuple[list[BuildFigure], Path, str]:
    """The Python builds (and Go's, unless skipped); the plan copy the runs use, and its
    image."""
    home = tmp / "home"
    nonce = leftovers.nonce
    figures: list[BuildFigure] = []

    def keep(figure: BuildFigure) -> BuildFigure:
        leftovers.images.append(figure.image)
        figures.append(figure)
        seconds = f"{figure.seconds:.2f} s" if figure.seconds is not None else "-"
        say(f"  {figure.label}: {seconds} ({figure.layers()})")
        return figure

    say("1. builds")
    plan = plan_copy(SIGNAL_PLAN, tmp / "signal", nonce=nonce)
    new = keep(build(plan, "docker:python", home, "docker:python new key, default base", 600))
    base = fresh_base(PYTHON_IMAGE, leftovers)
    cold = plan_copy(
        SIGNAL_PLAN, tmp / "signal-cold", config=f'docker:python|base_image = "{base}"'
    )
    keep(build(cold, "docker:python", home, "docker:python new key, fresh base image", 600))
    again = [build(plan, "docker:python", home, "again", 600) for _ in range(args.repeat)]
    keep(cached_figure("docker:python", new, again, leftovers))
    keep(cli_cached_build(plan, home))

    if args.no_go:
        say("  docker:go: skipped (--quick or --no-go)")
    else:
        go_builds(args, tmp, home, leftovers, keep)
    return figures, plan, new.image


def cli_cached_build(plan: Path, home: Path) -> BuildFigure:
    argv = [sys.executable, "-m", "choreograph.cli", "build", "single", "--plan", str(plan)]
    argv += ["--builder", "docker:python"]
    started = time.perf_counter()
    out = subprocess.run(
        argv, env={**os.environ, "CHOREO_HOME": str(home)}, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    if out.returncode != 0:
        sys.exit(f"choreo build single failed:\n{out.stdout}{out.stderr}")
    figure = BuildFigure("`choreo build single`, cached (CLI wall)", seconds, True)
    if "cached" not in out.stdout:
        figure.note = "NOT cached: the plan was built again (a base image changed meanwhile?)"
    return figure


def cached_figure(
    builder: str, first: BuildFigure, again: list[BuildFigure], leftovers: Leftovers
) -> BuildFigure:
    """The same key built again: the median of the cache hits; a miss is reported with its
    cause (another `choreo images prepare` on this host re-tags the base images, which
    gives new keys: right, but not what is measured here)."""
    hits = [a.seconds for a in again if a.from_cache and a.seconds is not None]
    leftovers.images.extend(a.image for a in again)
    misses = [a for a in again if not a.from_cache]
    label = f"{builder} cached (median of {len(hits)}"
    figure = BuildFigure(label + (f", min {min(hits):.3f} s)" if hits else ")"), None, True)
    if hits:
        figure.seconds = statistics.median(hits)
    if misses:
        changed = {
            name: f"{first.bases.get(name, '?')[7:19]} -> {image_id[7:19]}"
            for miss in misses
            for name, image_id in miss.bases.items()
            if first.bases.get(name) != image_id
        }
        why = f"base image changed meanwhile: {changed}" if changed else "the key changed"
        figure.note = f"{len(misses)} of {len(again)} builds NOT cached ({why})"
    return figure


def go_builds(
    args: argparse.Namespace, tmp: Path, home: Path, leftovers: Leftovers, keep: Any
) -> None:
    limit = args.go_limit
    plan = plan_copy(GO_PLAN, tmp / "go", nonce=leftovers.nonce)
    new = keep(build(plan, "docker:go", home, "docker:go new key, default base", limit))
    if new.seconds is None:
        say(f"  docker:go: cold build over {limit:.0f} s, Go skipped")
        return
    base = fresh_base(GO_BUILD_IMAGE, leftovers)
    cold = plan_copy(GO_PLAN, tmp / "go-cold", config=f'docker:go|build_base_image = "{base}"')
    fresh = keep(build(cold, "docker:go", home, "docker:go new key, fresh base image", limit))
    if fresh.seconds is None:
        say(f"  docker:go with a fresh base image: over {limit:.0f} s, stopped")
    again = [build(plan, "docker:go", home, "again", limit) for _ in range(args.repeat)]
    keep(cached_figure("docker:go", new, again, leftovers))


# --- 2. start-up ------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    builder: str
    runner: str
    concurrency: int | None = None

    @property
    def label(self) -> str:
        if self.runner != "local:docker":
            return f"{self.builder} + {self.runner}"
        default = " (default)" if self.concurrency == DEFAULT_CONCURRENCY else ""
        return f"{self.builder} + {self.runner}, start_concurrency {self.concurrency}{default}"

    def composition(self, plan: Path, instances: int) -> str:
        lines = [
            "[global]",
            f'plan = "{plan}"',
            'case = "signal"',
            f'builder = "{self.builder}"',
            f'runner = "{self.runner}"',
        ]
        if self.concurrency not in (None, DEFAULT_CONCURRENCY):
            lines += ["", "[global.run_config]", f"start_concurrency = {self.concurrency}"]
        lines += ["", "[[groups]]", 'id = "single"', f"instances = {{ count = {instances} }}"]
        return "\n".join(lines) + "\n"


@dataclass
class RunFigure:
    """Seconds from ``run.json`` ``started``, except ``wall`` (the whole CLI call)."""

    run_id: str
    wall: float
    seconds: float
    created: float | None
    first_started: float
    all_started: float
    all_network: float
    all_done: float
    from_cache: bool
    image: str


def instance_times(run_dir: Path, started: float) -> tuple[list[float], list[float], list[float]]:
    """Per instance: its start_event, network-initialized message and success, in seconds
    from ``started``."""
    starts, networks, dones = [], [], []
    for out in sorted(run_dir.glob("single/*/run.out")):
        for line in out.read_text().splitlines():
            with contextlib.suppress(ValueError, KeyError, TypeError):
                record = json.loads(line)
                at, event = record["ts"] / 1e9 - started, record["event"]
                if "start_event" in event:
                    starts.append(at)
                elif "success_event" in event:
                    dones.append(at)
                elif (
                    event.get("message_event", {})
                    .get("message", "")
                    .startswith("network initialization complete")
                ):
                    networks.append(at)
    return starts, networks, dones


def run_once(config: Config, plan: Path, instances: int, home: Path, tmp: Path) -> RunFigure:
    composition = tmp / f"{config.runner}-{config.concurrency}-{instances}.toml"
    composition.write_text(config.composition(plan, instances))
    runs = home / "runs"
    before = set(os.listdir(runs)) if runs.is_dir() else set()
    env = {**os.environ, "CHOREO_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    env.update(COLUMNS="200", NO_COLOR="1")
    argv = [sys.executable, "-m", "choreograph.cli", "run", "composition", "-f", str(composition)]
    created_at: float | None = None
    output: list[str] = []
    started = time.perf_counter()
    with subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            found = re.search(r"containers created: (\d+)/(\d+)", line)
            if found and found.group(1) == found.group(2):
                created_at = time.time()
    wall = time.perf_counter() - started
    (run_id,) = set(os.listdir(runs)) - before
    record = json.loads((runs / run_id / "run.json").read_text())
    if proc.returncode != 0 or record.get("status") != "success":
        sys.exit(f"run {run_id} ({config.label}, {instances}) failed:\n{''.join(output[-30:])}")
    zero = datetime.fromisoformat(record["started"]).timestamp()
    starts, networks, dones = instance_times(runs / run_id, zero)
    if len(starts) != instances or len(dones) != instances:
        sys.exit(
            f"run {run_id}: {len(starts)} start and {len(dones)} success events of {instances}"
        )
    return RunFigure(
        run_id=run_id,
        wall=wall,
        seconds=float(record["seconds"]),
        created=None if created_at is None else created_at - zero,
        first_started=min(starts),
        all_started=max(starts),
        all_network=max(networks, default=float("nan")),
        all_done=max(dones),
        from_cache=bool(record["builds"]["single"]["from_cache"]),
        image=str(record["builds"]["single"]["provenance"].get("image", "")),
    )


def describe_run(figure: RunFigure) -> str:
    created = "" if figure.created is None else f"created {figure.created:5.2f}, "
    return (
        f"wall {figure.wall:6.2f} s (run.json {figure.seconds:6.2f}); {created}"
        f"started first {figure.first_started:5.2f} all {figure.all_started:6.2f}, "
        f"network {figure.all_network:6.2f}, done {figure.all_done:6.2f}"
    )


def measure_starts(
    args: argparse.Namespace, plan: Path, tmp: Path, leftovers: Leftovers
) -> tuple[list[Config], dict[tuple[int, Config], list[RunFigure]], list[str]]:
    configs = [Config("exec:python", "local:netns")]
    configs += [Config("docker:python", "local:docker", c) for c in args.concurrency]
    home = tmp / "home"
    results: dict[tuple[int, Config], list[RunFigure]] = {}
    run_ids: list[str] = []
    say("\n2. start-up (seconds from run.json `started`)")
    for config in configs:
        warm = run_once(config, plan, min(args.sizes), home, tmp)
        leftovers.images.append(warm.image)
        run_ids.append(warm.run_id)
        built = "" if warm.from_cache else f" (built the plan with {config.builder} first)"
        say(f"  warm-up {config.label}: {warm.wall:.2f} s{built}")
    for n in args.sizes:
        for attempt in range(args.repeat):
            for config in configs:
                figure = run_once(config, plan, n, home, tmp)
                leftovers.images.append(figure.image)
                run_ids.append(figure.run_id)
                results.setdefault((n, config), []).append(figure)
                say(f"  {n:4d} x {config.label}, #{attempt + 1}: {describe_run(figure)}")
                if not figure.from_cache:
                    say(f"  note: run {figure.run_id} built its plan (expected a cached build)")
    return configs, results, run_ids


def leftover_report(run_ids: Sequence[str]) -> str:
    """Containers, networks and namespaces the runs left behind ("none" when clean)."""
    found = []
    for run_id in run_ids:
        label = f"label=choreograph.run={run_id}"
        for kind in ("container", "network"):
            ls = ["ps", "-aq"] if kind == "container" else ["network", "ls", "-q"]
            ids = docker(*ls, "--filter", label, check=False).split()
            found += [f"{kind} {i} (run {run_id})" for i in ids]
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    tags = {run_tag(run_id): run_id for run_id in run_ids}
    for line in namespaces.splitlines():
        name = line.split()[0] if line.split() else ""
        found += [f"namespace {name} (run {r})" for t, r in tags.items() if t in name]
    return "none" if not found else "; ".join(found)


# --- 3. memory ------------------------------------------------------------------------


def cgroup_memory(pid: int) -> dict[str, int]:
    """The memory cgroup of ``pid``: usage, anonymous rss, page cache, kernel (bytes)."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):  # cgroup v1
            base = Path("/sys/fs/cgroup/memory") / path.lstrip("/")
            stat = _stat(base / "memory.stat")
            kmem = base / "memory.kmem.usage_in_bytes"
            return {
                "usage": int((base / "memory.usage_in_bytes").read_text()),
                "rss": stat.get("total_rss", stat.get("rss", 0)),
                "cache": stat.get("total_cache", stat.get("cache", 0)),
                "kernel": int(kmem.read_text()) if kmem.exists() else 0,
            }
        if controllers == "" and Path("/sys/fs/cgroup/cgroup.controllers").exists():  # v2
            base = Path("/sys/fs/cgroup") / path.lstrip("/")
            stat = _stat(base / "memory.stat")
            kernel = stat.get("kernel") or sum(
                stat.get(k, 0) for k in ("slab", "kernel_stack", "pagetables", "sock")
            )
            return {
                "usage": int((base / "memory.current").read_text()),
                "rss": stat.get("anon", 0),
                "cache": stat.get("file", 0),
                "kernel": kernel,
            }
    raise RuntimeError(f"no memory cgroup for pid {pid}")


def _stat(path: Path) -> dict[str, int]:
    pairs = (line.split() for line in path.read_text().splitlines())
    return {p[0]: int(p[1]) for p in pairs if len(p) == 2}


def shims() -> dict[str, psutil.Process]:
    """Container id → its ``containerd-shim`` process."""
    found = {}
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or []
        if cmd and "containerd-shim" in cmd[0] and "-id" in cmd:
            found[cmd[cmd.index("-id") + 1]] = proc
    return found


def engine_rss() -> int:
    total = 0
    for proc in psutil.process_iter(["name", "memory_info"]):
        if proc.info["name"] in ("dockerd", "containerd") and proc.info["memory_info"]:
            total += proc.info["memory_info"].rss
    return total


@dataclass
class MemoryFigure:
    label: str
    containers: list[dict[str, float]] = field(default_factory=list)
    engine_delta: float = 0.0
    anchor: str = ""
    anchor_rss: float = 0.0
    anchor_uss: float = 0.0
    anchor_anon: float = 0.0


def host_anchor(argv: list[str], settle: float, leftovers: Leftovers) -> tuple[float, float, float]:
    """RSS, USS and anonymous RSS (bytes; the last compares with a cgroup's ``rss``) of
    ``argv`` run as a plain host process, once settled."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    leftovers.processes.append(proc)
    time.sleep(settle)
    info = psutil.Process(proc.pid).memory_full_info()
    status = Path(f"/proc/{proc.pid}/status").read_text()
    found = re.search(r"^RssAnon:\s+(\d+) kB", status, re.MULTILINE)
    proc.kill()
    proc.wait()
    return float(info.rss), float(info.uss), float(found.group(1)) * 1024 if found else 0.0


def idle_containers(
    label: str,
    image: str,
    command: list[str],
    anchor: list[str],
    args: argparse.Namespace,
    leftovers: Leftovers,
) -> MemoryFigure:
    figure = MemoryFigure(label, anchor=" ".join(a if " " not in a else "'…'" for a in anchor))
    engine_before = engine_rss()
    ids, run_seconds = [], []
    try:
        for _ in range(args.containers):
            started = time.perf_counter()
            out = docker(
                "run",
                "-d",
                "--network",
                "none",
                "--label",
                f"{BENCH_LABEL}={leftovers.nonce}",
                "--entrypoint",
                command[0],
                image,
                *command[1:],
            )
            run_seconds.append(time.perf_counter() - started)
            ids.append(out.strip())
            leftovers.containers.append(ids[-1])
        time.sleep(args.settle)
        pids = docker("inspect", "--format", "{{.Id}} {{.State.Pid}}", *ids).split()
        by_id = dict(zip(pids[::2], (int(p) for p in pids[1::2]), strict=True))
        found = shims()
        figure.engine_delta = (engine_rss() - engine_before) / len(ids)
        for cid, seconds in zip(ids, run_seconds, strict=True):
            memory = cgroup_memory(by_id[cid])
            shim = found[cid].memory_full_info() if cid in found else None
            row: dict[str, float] = {k: float(v) for k, v in memory.items()}
            row["shim_rss"] = float(shim.rss) if shim else float("nan")
            row["shim_uss"] = float(shim.uss) if shim else float("nan")
            row["docker_run"] = seconds
            figure.containers.append(row)
            say(f"    {cid[:12]}  {memory_row(row)}")
    finally:
        if ids:
            docker("rm", "-f", "-v", *ids, check=False)
    figure.anchor_rss, figure.anchor_uss, figure.anchor_anon = host_anchor(
        anchor, args.settle, leftovers
    )
    return figure


def memory_row(row: dict[str, float]) -> str:
    return (
        f"cgroup usage {row['usage'] / MIB:6.2f} MiB = rss {row['rss'] / MIB:5.2f} + cache "
        f"{row['cache'] / MIB:5.2f} + kernel {row['kernel'] / MIB:5.2f}; shim rss "
        f"{row['shim_rss'] / MIB:5.2f} uss {row['shim_uss'] / MIB:5.2f} MiB; "
        f"docker run -d {row['docker_run']:.2f} s"
    )


def measure_memory(
    args: argparse.Namespace, plan_image: str, leftovers: Leftovers
) -> list[MemoryFigure]:
    say(f"\n3. memory of {args.containers} idle containers per image (settled {args.settle} s)")
    busybox = shutil.which("busybox")
    kinds = [
        (
            f"{RUNTIME_IMAGE}, sleep",
            RUNTIME_IMAGE,
            ["sleep", "600"],
            [busybox, "sleep", "600"] if busybox else ["sleep", "600"],
        ),
        (f"{PYTHON_IMAGE}, sleep", PYTHON_IMAGE, ["sleep", "600"], ["sleep", "600"]),
        (
            "plan image, idle python + SDK",
            plan_image,
            ["/venv/bin/python", "-c", IDLE_PYTHON],
            [sys.executable, "-c", IDLE_PYTHON],
        ),
    ]
    figures = []
    for label, image, command, anchor in kinds:
        say(f"  {label} ({image})")
        figures.append(idle_containers(label, image, command, anchor, args, leftovers))
    return figures


# --- the summary ------------------------------------------------------------------------


def med_min(values: Sequence[float]) -> str:
    return f"{statistics.median(values):6.2f} / {min(values):6.2f}"


def summary(
    info: dict[str, Any],
    builds: list[BuildFigure],
    configs: list[Config],
    runs: dict[tuple[int, Config], list[RunFigure]],
    memory: list[MemoryFigure],
    args: argparse.Namespace,
    leftovers_found: str,
) -> None:
    rule = "=" * 100
    say(f"\n{rule}\ndocker_bench summary\nmachine: {machine(info)}\n{rule}")
    say("\nBuilds (Python API build_each unless noted)                 seconds  Docker layers")
    for b in builds:
        seconds = f"{b.seconds:8.3f}" if b.seconds is not None else f"{'-':>8}"
        say(f"  {b.label:<58} {seconds}  {b.layers()}")

    say(
        f"\nStart-up of the `signal` case, seconds, median / min of {args.repeat} "
        "(from run.json `started`, except wall)"
    )
    width = max(len(c.label) for c in configs)
    header = (
        f"  {'N':>4}  {'configuration':<{width}} {'CLI wall':>15} {'containers made':>15} "
        f"{'all started':>15} {'all network':>15} {'all done':>15}"
    )
    say(header)
    for n in args.sizes:
        for config in configs:
            figs = runs[(n, config)]
            created = [f.created for f in figs if f.created is not None]
            say(
                f"  {n:>4}  {config.label:<{width}} {med_min([f.wall for f in figs]):>15} "
                f"{med_min(created) if created else '-':>15} "
                f"{med_min([f.all_started for f in figs]):>15} "
                f"{med_min([f.all_network for f in figs]):>15} "
                f"{med_min([f.all_done for f in figs]):>15}"
            )
        anchor = runs[(n, configs[0])]
        for config in configs[1:]:
            figs = runs[(n, config)]
            parts = []
            for name, pick in (
                ("wall", lambda f: f.wall),
                ("all started", lambda f: f.all_started),
                ("all done", lambda f: f.all_done),
            ):
                docker_s = statistics.median(pick(f) for f in figs)
                netns_s = statistics.median(pick(f) for f in anchor)
                parts.append(
                    f"{name} +{(docker_s - netns_s) / n * 1e3:.0f} ms/instance "
                    f"({docker_s / netns_s:.1f}x)"
                )
            concurrency = f"start_concurrency {config.concurrency}"
            say(f"  {n:>4}  docker vs netns, {concurrency}: {'; '.join(parts)}")

    say(
        f"\nMemory per idle container, MiB, median [min-max] of {args.containers}; "
        "engine = (dockerd + containerd RSS growth) / containers"
    )
    say(
        f"  {'image, command':<48} {'cgroup usage':>19} {'rss':>19} {'cache':>19} "
        f"{'kernel':>19} {'shim RSS':>19} {'shim USS':>19} {'engine':>7} {'run -d s':>9}"
    )
    for m in memory:
        cells = []
        for key in ("usage", "rss", "cache", "kernel", "shim_rss", "shim_uss"):
            values = [row[key] / MIB for row in m.containers]
            cells.append(f"{statistics.median(values):6.2f} [{min(values):.2f}-{max(values):.2f}]")
        run_d = statistics.median(row["docker_run"] for row in m.containers)
        say(
            f"  {m.label:<48} {cells[0]:>19} {cells[1]:>19} {cells[2]:>19} {cells[3]:>19} "
            f"{cells[4]:>19} {cells[5]:>19} {m.engine_delta / MIB:7.2f} {run_d:9.2f}"
        )
        say(
            f"    anchor, the same as a host process ({m.anchor}): RSS "
            f"{m.anchor_rss / MIB:.2f}, USS {m.anchor_uss / MIB:.2f}, anonymous "
            f"{m.anchor_anon / MIB:.2f} MiB"
        )
    say(
        "  cgroup usage ~ rss (anonymous) + cache (page cache charged to the container) + "
        "kernel;\n  shim USS = pages only that shim holds (its RSS is mostly the shared "
        "binary); engine growth is noisy"
    )
    say(f"\nleft behind by the runs (containers, networks, namespaces): {leftovers_found}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 instances, 1 repeat, no Go")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[DEFAULT_CONCURRENCY, 16])
    parser.add_argument("--containers", type=int, default=10, help="idle containers per image")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds before reading memory")
    parser.add_argument("--go-limit", type=float, default=120.0, help="seconds for a Go build")
    parser.add_argument("--no-go", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.repeat, args.no_go = [10], 1, True
    info = preflight(need_go=not args.no_go)
    leftovers = Leftovers(secrets.token_hex(4))
    say(f"machine: {machine(info)}")
    with tempfile.TemporaryDirectory(prefix="docker-bench-") as temp:
        tmp = Path(temp)
        try:
            builds, plan, image = measure_builds(args, tmp, leftovers)
            configs, runs, run_ids = measure_starts(args, plan, tmp, leftovers)
            found = leftover_report(run_ids)
            memory = measure_memory(args, image, leftovers)
        finally:
            leftovers.close()
    summary(info, builds, configs, runs, memory, args, found)


if __name__ == "__main__":
    main()
