"""``testground status|tasks|logs|collect``: a daemon's tasks when one is used (see
session.py), else the runs made here, both shown as Testground shows tasks (tasks.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from choreograph.cli import remote
from choreograph.cli.cmd_collect import archive_run
from choreograph.cli.cmd_logs import logs as choreo_logs
from choreograph.cli.reporting import reported
from choreograph.cli.testground import lines, session
from choreograph.cli.testground.tasks import TaskView, from_run, from_task, print_task, print_tasks
from choreograph.config import load_settings
from choreograph.errors import InputError
from choreograph.results.layout import RunLayout, find_run, list_runs
from choreograph.results.liveness import effective_status

TaskOption = Annotated[str, typer.Option("--task", "-t", help="the task id")]


def _daemon_task(task_id: str) -> TaskView | None:
    """The daemon's task ``task_id``; None without a daemon or when it has no such task
    (it may be a run made here)."""
    if not session.use_daemon():
        return None
    daemon = remote.client(load_settings())
    try:
        return from_task(daemon.task(task_id))
    except InputError:
        return None
    finally:
        daemon.close()


def _local(task_id: str) -> TaskView:
    layout = find_run(load_settings().runs_dir, task_id)
    record = layout.read_run_json()
    return from_run(record, effective_status(record))


def status(
    task: TaskOption,
    extended: Annotated[bool, typer.Option("--extended", help="print the input too")] = False,
) -> None:
    """get the current status for a certain task"""
    with reported():
        view = _daemon_task(task) or _local(task)
    print_task(view)
    if extended and not session.use_daemon():
        lines.plain("\nInput:")
        record = RunLayout(load_settings().runs_dir, view.id).read_run_json()
        lines.plain(json.dumps(record.get("spec", {})))


def tasks() -> None:
    """get a list of the existing tasks"""
    with reported():
        daemon_used = session.use_daemon()  # before the settings: it sets the endpoint
        settings = load_settings()
        if daemon_used:
            daemon = remote.client(settings)
            try:
                views = [from_task(t) for t in daemon.tasks({}, 100).tasks]
            finally:
                daemon.close()
        else:
            runs = [
                RunLayout(settings.runs_dir, r).read_run_json()
                for r in list_runs(settings.runs_dir)
            ]
            views = [from_run(r, effective_status(r)) for r in runs]
    print_tasks(views)


def logs(
    task: TaskOption,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="stream until it ends")] = False,
) -> None:
    """print a task's logs, then its status"""
    with reported():
        view = _daemon_task(task)
        if view is not None:
            remote.print_logs(load_settings(), task, None, follow)
    if view is None:
        choreo_logs(run=task, follow=follow, merged=False, instance=None, poll=0.25)
        with reported():
            view = _local(task)
    print_task(view)


def collect(
    run: Annotated[str, typer.Argument(help="the run (task) id")],
    runner: Annotated[str, typer.Option("--runner", "-r", help="accepted; unused")] = "",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write the archive to FILENAME")
    ] = None,
) -> None:
    """collect the outputs of a run into a .tgz archive"""
    target = output or Path(f"{run}.tgz")
    with reported():
        if _daemon_task(run) is not None:
            remote.download_outputs(load_settings(), run, target)
        else:
            target = archive_run(run, target)
    lines.info(f"created file: {target}")


def register(app: typer.Typer) -> None:
    for command in (status, tasks, logs, collect):
        app.command(command.__name__)(command)
