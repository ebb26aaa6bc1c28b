"""Kernel same-page merging (KSM) for runs of many forked Python instances: ``memory_merge``.

Why: an idle forked Python instance costs 6.6-6.8 MB PSS even with ``gc.freeze``. On Python
3.11 every object an instance touches has its reference count written, so the fork server's
pages it touches are copied (measured in one idle instance: heap 1.4 MB, pymalloc arenas
4.3 MB, libpython's static objects 0.7 MB). The instances of one plan touch the same objects
the same way, so those copies are mostly identical page for page, and the kernel's KSM merges
identical pages back into one. Measured here (Linux 6.18; instances that passed a barrier,
published, and wait on a subscription): 200 instances 6.8 -> 0.71 MB PSS each, 2,000
instances 6.8 -> 0.44 MB each (12.2 GB given back). The price is ksmd's CPU: about 93 % of
one core while it merges at about 150 MB/s (``FAST``), a few percent at ``SLOW``.

How: a run's fork servers ask for their whole address space to be merged
(``prctl(PR_SET_MEMORY_MERGE)``, Linux 6.4+, inherited by every fork), and a
:class:`KsmLease` keeps ksmd running while any run holds one: the host's own settings are
saved when the first lease is taken and put back when the last one ends, or by ``choreo
healthcheck --fix`` when the run that took it died (:func:`leftover`). :class:`Merging`
runs ksmd fast while merging pays (or memory is short) and slow otherwise, and holds launches
while memory is short and ksmd still frees some, so a run that needs more memory unmerged
than the host has (5,000 instances: ~34 GB) starts anyway, at ksmd's pace.

``memory_merge = "auto"`` (the default) merges when the forked instances would need, unmerged,
more than a quarter of the memory available; ``"on"`` always (refused where KSM cannot be
used); ``"off"`` never. Merging is invisible to the instances (a merged page is copied again
on its next write); it lets processes of the same host observe which pages are shared, a
timing side channel that matters between tenants, not between the instances of a test.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import IO, Any

from choreograph.atomic import write_json
from choreograph.errors import InputError
from choreograph.plan.facts import Fact, RunnerNote

MODES = ("auto", "on", "off")
KSM_DIR = Path("/sys/kernel/mm/ksm")
STATE_DIR = Path("/run/choreograph/ksm")
MEMINFO = Path("/proc/meminfo")

UNMERGED_BYTES = 7 * 2**20
"""PSS of an idle forked Python instance before merging (6.6-6.8 MB measured, see above)."""
AUTO_SHARE = 0.25
"""``auto`` merges when the forked instances would need more than this share of the
memory available when the run starts."""

TUNED = ("pages_to_scan", "sleep_millisecs", "run")
"""The ksmd settings a lease changes and gives back, in the order they are written back
(``run`` last, so ksmd stops, if it was stopped, with the host's own pace set)."""
FAST = {"pages_to_scan": 20000, "sleep_millisecs": 10}
"""Measured: ~150 MB/s merged at ~93 % of one core (2,000 idle instances)."""
SLOW = {"pages_to_scan": 1000, "sleep_millisecs": 200}
"""5,000 pages a second: keeps what was merged merged and finds late copies, for a few
percent of a core."""
FAST_GAIN = 2560
"""Pages merged per second (10 MB/s) above which ksmd keeps its fast pace."""
SETTLE_SCANS = 3
"""Full scans ksmd makes at its fast pace after the last launch: a page is merged once it
was seen unchanged on two scans, and the scan under way at a launch may be past the new
instance's memory already."""

NOTE_EVERY = 10.0
"""Seconds between two "waiting for memory" notes of one run."""
WINDOW = 32
"""Launches under way at once while merging: enough to keep a fork server busy, few enough
that a closed gate stops the growth within ~32 instances (~220 MB unmerged)."""

_PR_GET_MEMORY_MERGE = 68
_PAGE = os.sysconf("SC_PAGE_SIZE")


def merge_mode(run_config: Mapping[str, Any], where: str) -> str:
    """The run's ``memory_merge`` setting, checked."""
    mode = str(run_config.get("memory_merge", "auto"))
    if mode not in MODES:
        raise InputError(f"{where} memory_merge = {mode!r}: expected one of {MODES}")
    return mode


def unavailable(ksm_dir: Path = KSM_DIR) -> str | None:
    """Why this host cannot merge a run's memory, or None when it can."""
    run = ksm_dir / "run"
    if not run.exists():
        return f"this kernel has no KSM ({ksm_dir} is missing)"
    if not os.access(run, os.W_OK):
        return f"{run} is not writable (needs root and /sys mounted read-write)"
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_GET_MEMORY_MERGE, 0, 0, 0, 0) < 0:
        return "this kernel cannot merge a whole process (PR_SET_MEMORY_MERGE needs Linux 6.4)"
    return None


def wanted(mode: str, forked: int, available: int, problem: str | None, where: str) -> bool:
    """Whether a run with ``forked`` forked Python instances merges, on a host with
    ``available`` bytes of memory available and ``problem`` (from :func:`unavailable`)."""
    if mode == "off" or forked == 0:
        return False
    if mode == "on":
        if problem is not None:
            raise InputError(f'{where} memory_merge = "on": {problem}')
        return True
    return problem is None and forked * UNMERGED_BYTES > AUTO_SHARE * available


def meminfo(path: Path = MEMINFO) -> dict[str, int]:
    """``/proc/meminfo`` in bytes."""
    found = {}
    for line in path.read_text().splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts:
            found[name] = int(parts[0]) * (1024 if len(parts) > 1 else 1)
    return found


class KsmLease:
    """ksmd runs while this lease is held; the host's settings come back after the last
    lease of any run on this host ends. State in ``state_dir``: ``saved.json`` (the host's
    settings) and one ``lease-<run>`` file per holder, locked by it for its life, so a
    lease whose holder died is seen as such (its lock is gone with the process)."""

    def __init__(self, run_id: str, ksm_dir: Path = KSM_DIR, state_dir: Path = STATE_DIR):
        self.run_id = run_id
        self._ksm = ksm_dir
        self._state = state_dir
        self._held: IO[str] | None = None
        self._pace: Mapping[str, int] | None = None

    def __enter__(self) -> KsmLease:
        with _locked(self._state):
            _sweep(self._ksm, self._state)
            saved = self._state / "saved.json"
            if not saved.exists():
                host = {name: int((self._ksm / name).read_text()) for name in TUNED}
                write_json(saved, host)
            held = open(self._state / f"lease-{self.run_id}", "w")
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._held = held
            self.pace(fast=True)
            (self._ksm / "run").write_text("1")
        return self

    def pace(self, *, fast: bool) -> None:
        """Set ksmd's scanning pace (written only when it changes)."""
        pace = FAST if fast else SLOW
        if pace is not self._pace:
            for name, value in pace.items():
                (self._ksm / name).write_text(str(value))
            self._pace = pace

    def __exit__(self, *exc: object) -> None:
        if self._held is None:
            return
        with _locked(self._state):
            self._held.close()
            self._held = None
            with contextlib.suppress(FileNotFoundError):
                (self._state / f"lease-{self.run_id}").unlink()
            _sweep(self._ksm, self._state)


def leftover(state_dir: Path = STATE_DIR) -> bool:
    """Whether ksmd still runs at a pace set by runs that all died."""
    if not (state_dir / "saved.json").exists():
        return False
    with _locked(state_dir):
        live = _live_leases(state_dir, remove_dead=False)
        return (state_dir / "saved.json").exists() and not live


def restore_leftover(ksm_dir: Path = KSM_DIR, state_dir: Path = STATE_DIR) -> bool:
    """Give the host its KSM settings back if every run that changed them died; True if
    something was given back."""
    if not (state_dir / "saved.json").exists():
        return False
    with _locked(state_dir):
        return _sweep(ksm_dir, state_dir)


@contextlib.contextmanager
def _locked(state_dir: Path) -> Any:
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _live_leases(state_dir: Path, remove_dead: bool = True) -> list[Path]:
    live = []
    for path in sorted(state_dir.glob("lease-*")):
        with open(path) as probe:
            try:
                fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                live.append(path)
                continue
        if remove_dead:
            path.unlink(missing_ok=True)  # its holder died
    return live


def _sweep(ksm_dir: Path, state_dir: Path) -> bool:
    """Under the lock: drop dead leases; with none left, put the host's settings back."""
    saved = state_dir / "saved.json"
    if _live_leases(state_dir) or not saved.exists():
        return False
    host = json.loads(saved.read_text())
    for name in TUNED:
        if name in host:
            (ksm_dir / name).write_text(str(host[name]))
    saved.unlink()
    return True


class Merging:
    """While a run's instances start and run: ksmd's pace, and the gate on launches.

    Every ``tick`` seconds it reads how much ksmd has merged and how much memory is
    available: ksmd goes fast until it has made :data:`SETTLE_SCANS` full scans since the
    last launch, and after that while it merged at least :data:`FAST_GAIN` pages a second or
    memory is short; slow otherwise. Memory is short below ``floor`` (default: 15 % of the
    host's memory, at least 1 GiB); launches wait then (:meth:`admitted`), as long as ksmd
    still frees memory, and the runner says so (at most every :data:`NOTE_EVERY` seconds).
    """

    def __init__(
        self,
        lease: KsmLease,
        report: Callable[[Fact], None],
        ksm_dir: Path = KSM_DIR,
        meminfo_path: Path = MEMINFO,
        floor: int | None = None,
        tick: float = 0.25,
    ) -> None:
        self._lease = lease
        self._report = report
        self._ksm = ksm_dir
        self._meminfo = meminfo_path
        total = meminfo(meminfo_path).get("MemTotal", 0)
        self.floor = floor if floor is not None else max(2**30, int(total * 0.15))
        self._tick = tick
        self._open = asyncio.Event()
        self._open.set()
        self._window = asyncio.Semaphore(WINDOW)
        self._launched = False
        self._noted = -NOTE_EVERY
        self.merged_bytes = 0
        self.waits = 0

    @contextlib.asynccontextmanager
    async def admitted(self) -> AsyncIterator[None]:
        """Around one launch, until its instance has started: entered at once unless memory
        is short, and by at most :data:`WINDOW` launches at a time. Without the window every
        launch of a large run passed the gate at its first instant and queued at the fork
        server, and 5,000 instances of ``examples/sync`` ran the host out of memory behind
        a closed gate."""
        async with self._window:
            if not self._open.is_set():
                await self._open.wait()
            self._launched = True
            yield

    def _sharing(self) -> int:
        return int((self._ksm / "pages_sharing").read_text())

    def _scans(self) -> int:
        return int((self._ksm / "full_scans").read_text())

    async def run(self) -> None:
        """Pace ksmd and open or close the gate until cancelled."""
        base = last = self._sharing()
        last_at = time.monotonic()
        gains: list[float] = []
        settled_at = self._scans() + SETTLE_SCANS
        while True:
            await asyncio.sleep(self._tick)
            now, sharing, scans = time.monotonic(), self._sharing(), self._scans()
            if self._launched:
                self._launched = False
                settled_at = scans + SETTLE_SCANS
            gains = [*gains[-7:], max(0, sharing - last) / max(now - last_at, 1e-3)]
            last, last_at = sharing, now
            self.merged_bytes = max(0, sharing - base) * _PAGE
            available = meminfo(self._meminfo).get("MemAvailable", self.floor)
            short = available < self.floor
            settling = scans < settled_at
            self._lease.pace(fast=short or settling or max(gains) >= FAST_GAIN)
            self._gate(short and (settling or max(gains) > 0), available)

    def _gate(self, hold: bool, available: int) -> None:
        if hold and self._open.is_set():
            self._open.clear()
            self.waits += 1
            if time.monotonic() - self._noted < NOTE_EVERY:
                return  # the gate opens and closes at ksmd's pace: say so now and then
            self._noted = time.monotonic()
            self._report(
                RunnerNote(
                    f"waiting for memory: {available / 2**30:.1f} GiB available, under "
                    f"{self.floor / 2**30:.1f} GiB; KSM has merged "
                    f"{self.merged_bytes / 2**30:.1f} GiB so far",
                    time.time(),
                )
            )
        elif not hold and not self._open.is_set():
            self._open.set()


@contextlib.asynccontextmanager
async def memory_merging(
    run_id: str, enabled: bool, report: Callable[[Fact], None], forked: int = 0
) -> AsyncIterator[Merging | None]:
    """A :class:`Merging` for the run while it lasts (None when ``enabled`` is false);
    ``forked``: how many instances it merges, to say when they outgrow the host."""
    if not enabled:
        yield None
        return
    with KsmLease(run_id) as lease:
        merging = Merging(lease, report)
        report(RunnerNote("merging the instances' identical memory pages (KSM)", time.time()))
        if warning := outgrows(forked, meminfo().get("MemAvailable", 0)):
            report(RunnerNote(warning, time.time()))
        task = asyncio.create_task(merging.run(), name=f"ksm pace {run_id}")
        try:
            yield merging
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def outgrows(forked: int, available: int) -> str | None:
    """What to tell a run whose forked instances need more memory unmerged than the host
    has: merging holds while they idle, not while all of them work at once (measured: 5,000
    instances of ``examples/sync`` started and waited merged, then ran the host out of memory
    once a barrier set them all to work, each copying its pages again)."""
    need = forked * UNMERGED_BYTES
    if need <= available:
        return None
    return (
        f"{forked:,} forked instances need about {need / 2**30:.0f} GiB unmerged and "
        f"{available / 2**30:.0f} GiB is available: merging makes room while they wait; if "
        "they all work at once they copy their pages again, and the kernel's OOM killer "
        "then stops instances (reported as crashed)"
    )


def decide(run_config: Mapping[str, Any], where: str, forked: int) -> bool:
    """Whether a run whose config is ``run_config`` (``where``: its table, for errors) and
    that forks ``forked`` Python instances merges their memory on this host."""
    mode = merge_mode(run_config, where)
    if mode == "off" or forked == 0:
        return False
    available = meminfo().get("MemAvailable", 0)
    return wanted(mode, forked, available, unavailable(), where)
