"""Testground's Go binaries and the load generator, built from the Go module proxy into a cache.

Each binary is built in a throwaway module (``go get MODULE@VERSION`` then ``go build
PACKAGE``), which needs exact versions only: the proxy refuses version lists for
github.com/testground/*, and nothing here asks for one. Binaries live in
``<cache>/<name>-<version>/`` and are reused by later runs; a build writes to a temporary
name and renames it into place, so an interrupted build is never mistaken for a finished one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

TESTGROUND = ("github.com/testground/testground", "v0.5.3", "github.com/testground/testground")
SYNC_SERVICE = (
    "github.com/testground/sync-service",
    "v0.1.0",
    "github.com/testground/sync-service/cmd",
)
LOADGEN_SOURCES = Path(__file__).parent / "loadgen"


class BuildUnavailable(Exception):
    """Go or a module cannot be had: the benchmark skips, saying why."""


@dataclass(frozen=True)
class Binary:
    path: Path
    label: str
    build_seconds: float | None  # None: taken from the cache


def _go_env() -> dict[str, str]:
    # Static binaries (the load generator also runs inside FROM-scratch containers); the
    # local toolchain only (never a download of another Go); no workspace from the caller.
    return dict(os.environ, CGO_ENABLED="0", GOTOOLCHAIN="local", GOWORK="off", GOFLAGS="-mod=mod")


def _go(args: list[str], cwd: Path, what: str) -> None:
    proc = subprocess.run(
        ["go", *args], cwd=cwd, env=_go_env(), capture_output=True, text=True, timeout=1800
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-8:])
        raise BuildUnavailable(f"{what}: `go {' '.join(args)}` failed:\n{tail}")


def require_go() -> str:
    go = shutil.which("go")
    if go is None:
        raise BuildUnavailable("no `go` on PATH (Testground's binaries are built from source)")
    version = subprocess.run([go, "version"], capture_output=True, text=True, check=False)
    return version.stdout.strip()


def _publish(built: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(built, target)


def module_binary(cache: Path, spec: tuple[str, str, str], name: str) -> Binary:
    """The main package ``spec[2]`` of module ``spec[0]`` at version ``spec[1]``."""
    module, version, package = spec
    folder = cache / f"{name}-{version}"
    target = folder / name
    label = f"{module}@{version}"
    if target.is_file():
        return Binary(target, label, None)
    started = time.perf_counter()
    work = folder / f"src.{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        (work / "go.mod").write_text(f"module choreograph.bench/{name}\n\ngo 1.16\n")
        _go(["get", f"{package}@{version}"], work, label)
        _go(["build", "-trimpath", "-o", str(work / name), package], work, label)
        _publish(work / name, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Binary(target, label, time.perf_counter() - started)


def loadgen_binary(cache: Path) -> Binary:
    """The load generator, keyed by a digest of its sources (an edit builds it anew)."""
    digest = hashlib.sha256()
    sources = sorted(p for p in LOADGEN_SOURCES.iterdir() if p.is_file())
    for source in sources:
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    key = digest.hexdigest()[:16]
    target = cache / f"loadgen-{key}" / "loadgen"
    label = "loadgen (bench/vs_testground/loadgen, gorilla/websocket)"
    if target.is_file():
        return Binary(target, label, None)
    started = time.perf_counter()
    work = target.parent / f"src.{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        for source in sources:
            shutil.copy2(source, work / source.name)
        _go(["build", "-trimpath", "-o", str(work / "loadgen"), "."], work, label)
        _publish(work / "loadgen", target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for stale in cache.glob("loadgen-*"):  # builds of earlier sources
        if stale != target.parent:
            shutil.rmtree(stale, ignore_errors=True)
    return Binary(target, label, time.perf_counter() - started)
