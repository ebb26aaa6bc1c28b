"""The records the daemon's API takes and gives, validated at the edge (pydantic), plus
the run summary a client needs to print the same outcome table as an embedded run."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from choreograph.engine import RunResult
from choreograph.results.outcomes import GroupOutcome

TaskKind = Literal["run", "build"]
TaskState = Literal["scheduled", "processing", "complete", "canceled"]
FINAL_STATES: tuple[str, ...] = ("complete", "canceled")


class Metadata(BaseModel):
    """Where the tested code comes from (Testground's ``--metadata-*``), for filtering."""

    model_config = ConfigDict(extra="forbid")
    repo: str = ""
    branch: str = ""
    commit: str = ""
    labels: dict[str, str] = {}


class TaskRequest(BaseModel):
    """The ``request`` part of ``POST /api/tasks``: what ``choreo run`` was asked.

    ``case`` is set for a single run; a composition comes as its own file part.
    ``test_params`` are ``--tp`` values (calibrated ones already substituted by the
    client); ``deps`` name, in upload order, the local dependency paths as the
    composition writes them."""

    model_config = ConfigDict(extra="forbid")
    kind: TaskKind = "run"
    case: str = ""
    instances: int | None = Field(default=None, ge=1)
    test_params: dict[str, str] = {}
    runner: str | None = None
    builder: str | None = None
    use_build: str | None = None
    timeout_s: float | None = Field(default=None, gt=0)
    fail_fast: bool = False
    service_modes: list[str] = []
    metadata: Metadata = Metadata()


class Task(BaseModel):
    """One task as the API shows it."""

    id: str
    kind: TaskKind
    plan: str
    target: str
    """The case (single runs) or the composition file's name."""
    submitter: str
    metadata: Metadata
    state: TaskState
    outcome: str = ""
    """``success``, ``failure`` (an instance failed), ``error`` (input, build or host:
    see ``exit_code``), ``canceled``; "" until the task ends."""
    error: str = ""
    exit_code: int | None = None
    """The exit status ``choreo run`` would have given embedded (0 to 4)."""
    created: str
    started: str = ""
    ended: str = ""
    run_id: str = ""
    request: TaskRequest


class TaskPage(BaseModel):
    """A page of ``GET /api/tasks``, newest first; ``next_before`` fetches the next."""

    tasks: list[Task]
    next_before: str | None = None


class Submitted(BaseModel):
    id: str
    state: TaskState


def result_to_json(result: RunResult) -> dict[str, Any]:
    """What a client needs of a finished run to print its outcome table."""
    return {
        "type": "RunFinished",
        "run_id": result.run_id,
        "run_dir": str(result.run_dir),
        "success": result.success,
        "groups": [asdict(g) for g in result.groups],
        "stop_reason": result.stop_reason,
        "seconds": result.seconds,
    }


def result_from_json(data: dict[str, Any]) -> RunResult:
    return RunResult(
        run_id=data["run_id"],
        run_dir=Path(data["run_dir"]),
        success=bool(data["success"]),
        groups=[GroupOutcome(**g) for g in data["groups"]],
        instances=[],
        stop_reason=data.get("stop_reason", ""),
        seconds=float(data.get("seconds", 0.0)),
    )
