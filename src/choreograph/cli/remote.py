"""``choreo --endpoint URL ...``: the commands that run plans submit them to a daemon and
render what comes back with the same renderer as an embedded run (LiveProgress, then
the outcome table), exiting with the exit status the embedded run would have had.

Input is resolved here first, exactly as embedded, so a mistake is reported (exit 2)
before anything is uploaded; the daemon resolves the uploaded copy again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from choreograph import progress
from choreograph.calibrate import substitute_calibrated
from choreograph.cli import render
from choreograph.config import Settings
from choreograph.errors import InputError
from choreograph.plan import load_composition, parse_test_param_flags
from choreograph.plan.spec import RunSpec

if TYPE_CHECKING:
    from choreograph.daemon.client import DaemonClient
    from choreograph.daemon.schemas import TaskKind


@dataclass(frozen=True)
class Submission:
    """What ``run single|composition`` was asked, beyond what the specs say."""

    case: str = ""
    instances: int | None = None
    tp: tuple[str, ...] = ()
    runner: str | None = None
    builder: str | None = None
    use_build: str | None = None
    composition: Path | None = None
    repo: str = ""
    branch: str = ""
    commit: str = ""


def client(settings: Settings) -> DaemonClient:
    from choreograph.daemon.client import DaemonClient

    if not settings.endpoint:
        raise InputError("-t/--task needs a daemon: give --endpoint URL (or CHOREO_ENDPOINT)")
    return DaemonClient(settings.endpoint, settings.token)


def run_remote(
    settings: Settings,
    specs: list[RunSpec],
    submission: Submission,
    timeout: float | None,
    fail_fast: bool,
    messages: bool,
    service_modes: list[str],
    series: object = None,
    collect: bool = False,
) -> int:
    """Submit, follow, render; the task's exit status. ``series``: a series was asked
    for, which runs embedded only (InputError). ``collect``: download the task's run
    archive once it ended (``<run id>.tgz``)."""
    if series is not None:
        raise InputError("--repeat and --until-stable run here only; drop --endpoint for them")
    daemon, task_id = submit_task(settings, specs, submission, timeout, fail_fast, service_modes)
    try:
        render.err_console.print(f"task {task_id} submitted to {daemon.endpoint}", style="dim")
        code = follow(daemon, task_id, messages)
    finally:
        daemon.close()
    if collect:
        download_outputs(settings, task_id, None)
    return code


def submit_task(
    settings: Settings,
    specs: list[RunSpec],
    submission: Submission,
    timeout: float | None,
    fail_fast: bool,
    service_modes: list[str],
    kind: TaskKind = "run",
) -> tuple[DaemonClient, str]:
    """Upload the run (plan folder, composition, local dependency trees) as a task (or,
    ``kind="build"``, as a task that builds its groups only); an open client (the caller
    closes it) and the task's id."""
    from choreograph.daemon.schemas import Metadata, TaskRequest

    spec = specs[0]
    test_params = substitute_calibrated(
        parse_test_param_flags(list(submission.tp)), settings.home, spec.plan, spec.case
    )
    request = TaskRequest(
        kind=kind,
        case=submission.case,
        instances=submission.instances,
        test_params=test_params,
        runner=submission.runner,
        builder=submission.builder,
        use_build=submission.use_build,
        timeout_s=timeout,
        fail_fast=fail_fast,
        service_modes=service_modes,
        metadata=Metadata(repo=submission.repo, branch=submission.branch, commit=submission.commit),
    )
    daemon = client(settings)
    try:
        deps = _local_trees(submission.composition) if submission.composition else {}
        task_id = daemon.submit(request, spec.plan_dir, submission.composition, deps)
    except BaseException:
        daemon.close()
        raise
    return daemon, task_id


def _local_trees(composition_file: Path) -> dict[str, Path]:
    """Each local dependency path the composition writes → the folder it names here."""
    composition = load_composition(composition_file)
    base = composition_file.resolve().parent
    trees: dict[str, Path] = {}
    builds = [composition.global_.build, *(g.build for g in composition.groups)]
    for dep in (d for b in builds for d in b.dependencies if d.path):
        tree = (base / Path(dep.path).expanduser()).resolve()
        if not tree.is_dir():
            raise InputError(f"{composition_file}: dependency {dep.module}: no folder {tree}")
        trees[dep.path] = tree
    return trees


def follow(
    daemon: DaemonClient,
    task_id: str,
    messages: bool,
    on_event: Callable[[dict[str, object]], None] | None = None,
) -> int:
    """Render the task's events until it ends; Ctrl-C cancels the task (its instances
    stop as they would embedded) and keeps following to the end. ``on_event`` gets each
    progress event's data too (once, as it is rendered)."""
    seen = 0
    view = _View(messages)
    while True:
        try:
            for n, (event, data) in enumerate(daemon.events(task_id), 1):
                if n <= seen:
                    continue  # already shown before a Ctrl-C
                seen = n
                if event == "end":
                    view.close()
                    return _ended(data, view.runs)
                view.show(data)
                if on_event is not None:
                    on_event(data)
        except KeyboardInterrupt:
            view.close()
            render.warn(f"canceling task {task_id} (Ctrl-C)")
            daemon.cancel(task_id)


class _View:
    """One LiveProgress per run, as embedded: opened at the first event of a run, closed
    with its outcome table."""

    def __init__(self, messages: bool) -> None:
        self.messages = messages
        self.live: render.LiveProgress | None = None
        self.runs = 0

    def show(self, data: dict[str, object]) -> None:
        from choreograph.daemon.schemas import result_from_json

        if data.get("type") == "RunFinished":
            run_seconds = self.live.run_seconds if self.live is not None else None
            self.close()
            render.outcome_table(result_from_json(data), run_seconds)
            self.runs += 1
            return
        if self.live is None:
            self.live = render.LiveProgress(show_messages=self.messages).__enter__()
        self.live(progress.from_json(data))

    def close(self) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)
            self.live = None


def _ended(end: dict[str, object], runs: int) -> int:
    """Print what the outcome tables did not say; the exit status."""
    code = end.get("exit_code")
    error = str(end.get("error") or "")
    if end.get("state") == "canceled" and not runs:
        render.error(f"task canceled: {error}")
    elif isinstance(code, int) and code >= 2 and error:
        render.error(error)
    elif end.get("state") == "deleted":
        render.error("the task was deleted while it ran")
        return 1
    return code if isinstance(code, int) else 1


def print_logs(settings: Settings, task_id: str, instance: str | None, follow: bool) -> int:
    """``choreo logs -t``: the task's log lines, rendered as ``choreo logs`` renders
    them; the number of lines out of sequence."""
    from dataclasses import replace

    from choreograph.cli.render_results import log_line
    from choreograph.results.merged_log import parse_lines

    daemon = client(settings)
    flagged = 0
    try:
        for event, data in daemon.logs(task_id, instance, follow):
            if event != "line":
                continue
            parsed = next(parse_lines(str(data["instance"]), [str(data["text"])], data["number"]))
            line = replace(parsed, flags=tuple(data.get("flags", ())))
            log_line(line, with_instance=instance is None)
            flagged += line.out_of_sequence
    finally:
        daemon.close()
    return flagged


def download_outputs(settings: Settings, task_id: str, output: Path | None) -> Path:
    """``choreo collect -t``: the task's run archive, written to ``output``."""
    daemon = client(settings)
    try:
        run_id = daemon.task(task_id).run_id or task_id
        target = output or Path(f"{run_id}.tgz")
        size = daemon.download(task_id, "outputs", target)
    finally:
        daemon.close()
    render.console.print(f"wrote {target} ({size} bytes)")
    return target


def cancel(settings: Settings, task_id: str) -> None:
    """``choreo terminate -t``: cancel a queued task, or stop a running one."""
    daemon = client(settings)
    try:
        task = daemon.cancel(task_id)
    finally:
        daemon.close()
    doing = "canceled" if task.state == "canceled" else "stopping (its instances get their grace)"
    render.console.print(f"task {task.id}: {doing}")
