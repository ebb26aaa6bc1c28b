"""What the dashboard's pages show, shaped from tasks and run folders into plain records
the templates print. Kept apart from the routes so the shaping is testable without
HTTP, and kept free of HTML: the templates (autoescaped) are the only place markup is
made, so no text from a plan can reach the page unescaped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from choreograph.daemon.schemas import FINAL_STATES, Task
from choreograph.results.layout import RunLayout

FAILED_PER_PAGE = 50
BAD = ("failure", "error", "crash", "crashed", "canceled", "stopped")


def when(iso: str) -> str:
    """``2026-11-30 14:56:21`` (UTC) from an ISO time; "" for ""."""
    return iso[:19].replace("T", " ") if iso else ""


def duration(task: Task, now: datetime | None = None) -> str:
    """How long the task ran (so far, while it runs); "" before it started."""
    if not task.started:
        return ""
    start = datetime.fromisoformat(task.started)
    end = datetime.fromisoformat(task.ended) if task.ended else (now or datetime.now(UTC))
    seconds = max(0.0, (end - start).total_seconds())
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def tone(word: str) -> str:
    """The badge colour of a state or outcome word: ok, bad, live or idle."""
    if word in ("success", "complete"):
        return "ok"
    if word in BAD:
        return "bad"
    return "live" if word in ("processing", "running") else "idle"


def is_final(task: Task) -> bool:
    return task.state in FINAL_STATES


@dataclass(frozen=True)
class Build:
    group: str
    builder: str
    build_id: str
    from_cache: bool
    provenance: str
    """The provenance record as indented JSON (what was built from what)."""


@dataclass(frozen=True)
class Failed:
    key: str
    status: str
    error: str


@dataclass
class RunView:
    """A task's run as its folder tells it (run.json): outcome per group, the instances
    that did not succeed (one page of them), the builds and their provenance."""

    run_id: str
    status: str
    ended: bool
    stop_reason: str = ""
    seconds: Any = None
    groups: list[dict[str, Any]] = field(default_factory=list)
    failed: list[Failed] = field(default_factory=list)
    failed_total: int = 0
    failed_offset: int = 0
    builds: list[Build] = field(default_factory=list)

    @property
    def failed_next(self) -> int | None:
        nxt = self.failed_offset + FAILED_PER_PAGE
        return nxt if nxt < self.failed_total else None

    @property
    def failed_prev(self) -> int | None:
        return max(0, self.failed_offset - FAILED_PER_PAGE) if self.failed_offset else None


def run_view(runs_dir: Path, task: Task, failed_offset: int = 0) -> RunView | None:
    """The task's latest run, None while it has none (queued, or a build task)."""
    if not task.run_id:
        return None
    layout = RunLayout(runs_dir, task.run_id)
    try:
        record = layout.read_run_json()
    except (OSError, ValueError):
        return None
    outcome = record.get("outcome") or {}
    instances: dict[str, dict[str, Any]] = outcome.get("instances") or {}
    bad = [(key, i) for key, i in instances.items() if i.get("status") != "success"]
    offset = max(0, min(failed_offset, len(bad)))
    page = bad[offset : offset + FAILED_PER_PAGE]
    return RunView(
        run_id=task.run_id,
        status=str(record.get("status", "")),
        ended=bool(outcome),
        stop_reason=str(record.get("stop_reason", "")),
        seconds=record.get("seconds"),
        groups=list(outcome.get("groups") or []),
        failed=[Failed(k, str(i.get("status", "")), str(i.get("error", ""))) for k, i in page],
        failed_total=len(bad),
        failed_offset=offset,
        builds=_builds(record),
    )


def _builds(record: dict[str, Any]) -> list[Build]:
    builds: dict[str, dict[str, Any]] = record.get("builds") or {}
    return [
        Build(
            group=str(group),
            builder=str(b.get("builder", "")),
            build_id=str(b.get("build_id", "")),
            from_cache=bool(b.get("from_cache")),
            provenance=json.dumps(b.get("provenance", {}), indent=2, sort_keys=True),
        )
        for group, b in builds.items()
    ]


@dataclass(frozen=True)
class Instance:
    """One instance's page: its outcome once decided, and the tail of its stderr."""

    key: str
    status: str
    error: str
    returncode: Any
    stderr: str


def instance_view(layout: RunLayout, key: str, tail_bytes: int = 64 * 1024) -> Instance:
    record = layout.read_run_json()
    found = ((record.get("outcome") or {}).get("instances") or {}).get(key) or {}
    err = layout.instance_dir(key) / "run.err"
    text = ""
    if err.is_file():
        with err.open("rb") as stream:
            size = stream.seek(0, 2)
            stream.seek(max(0, size - tail_bytes))
            text = stream.read().decode("utf-8", errors="replace")
    return Instance(
        key=key,
        status=str(found.get("status", "")),
        error=str(found.get("error", "")),
        returncode=found.get("returncode"),
        stderr=text,
    )
