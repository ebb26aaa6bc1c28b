"""``testground run``: the composition (synthetic for ``run single``) resolved as
``choreo run composition`` resolves it, then each of its runs executed here or sent to a
daemon, with Testground's lines around each: ``run is queued with ID``, ``finished run
with ID``, ``created file`` (``--collect``), ``result <run>[<task>]: <outcome>``, and
the ``--result-file`` CSV (``run_id,task_id,outcome,error``).

Ids: a run made here gets a 20-character id, the length of Testground's (scripts check
it, and name ``<id>.tgz`` and its ``<id>/<group>/<n>/run.out`` after it):
``YYYYMMDD-HHMMSS-xxxx``, Choreograph's shape with a shorter random part. Through a
daemon, the id is the daemon's task id (what ``status -t`` and ``collect`` take).
"""

from __future__ import annotations

import copy
import csv
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from choreograph.cli import remote
from choreograph.cli.app import execute_rendered
from choreograph.cli.cmd_collect import archive_run
from choreograph.cli.reporting import reported, resolve_specs
from choreograph.cli.testground import composition, lines, session
from choreograph.cli.testground.archive import rename_top
from choreograph.cli.testground.tasks import from_run, from_task
from choreograph.config import Settings
from choreograph.engine import RunOptions
from choreograph.errors import BuildError, InputError
from choreograph.plan.spec import RunSpec
from choreograph.results.layout import RunLayout

if TYPE_CHECKING:
    from choreograph.daemon.client import DaemonClient

_BASE32 = "0123456789abcdefghijklmnopqrstuv"


def new_run_id(now: datetime | None = None) -> str:
    """``20240304-101500-k3v9``: 20 characters, sortable by time to the second."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    tail = "".join(secrets.choice(_BASE32) for _ in range(4))
    return f"{moment:%Y%m%d-%H%M%S}-{tail}"


@dataclass(frozen=True)
class RunAsk:
    """What ``testground run single|composition`` was asked."""

    data: dict[str, Any]
    """The composition (the synthetic one for ``run single``)."""
    name: str = composition.SINGLE
    """Its file's name, as errors cite it."""
    run_ids: tuple[str, ...] = ()
    wait: bool = False
    collect: bool = False
    collect_file: str = ""
    result_file: Path | None = None
    write_artifacts: Path | None = None
    ignore_artifacts: bool = False
    metadata: tuple[str, str, str] = ("", "", "")


@dataclass
class Outcome:
    run: str
    """The composition's ``[[runs]]`` id (``default`` without any)."""
    task: str
    outcome: str
    error: str = ""


def run(ask: RunAsk) -> None:
    """Run ``ask``; exit 1 when a run did not succeed, as Testground does."""
    env = session.env()
    daemon = session.use_daemon()
    data = copy.deepcopy(ask.data)
    if ask.ignore_artifacts:
        for group in data.get("groups", []):
            group.get("run", {}).pop("artifact", None)
    results: list[Outcome] = []
    with reported():
        settings, specs = resolve_specs(composition.resolver(data, ask.name))
        specs = _selected(specs, ask.run_ids)
        many = len(specs) > 1
        waiting = ask.wait or ask.collect or many
        broken = _build_all(settings, specs) if many else ""
        for n, spec in enumerate(specs):
            disabled = env.runner_disabled(spec.runner)
            if broken:  # Testground builds every group first: the first run is canceled
                result = _broken(settings, spec, data, ask, daemon, broken)
            elif not daemon:
                result = _here(settings, spec, ask, disabled, many, first=n == 0)
            elif waiting or disabled:
                result = _on_daemon(settings, spec, data, ask, disabled)
            else:  # Testground's client leaves a task it does not wait for to the daemon
                _submit(settings, spec, data, ask)[0].close()
                return
            results.append(result)
            if result.outcome == "canceled":
                break
        for spec in specs[len(results) :]:  # not run: a run before them was canceled
            results.append(Outcome(spec.composition_run, "N/A", "canceled", "canceled"))
    _show(results, ask.result_file)
    failed = [r for r in results if r.outcome != "success"]
    if failed:
        lines.plain(f'run "{failed[0].run}" failed')
        raise typer.Exit(1)


def _build_all(settings: Settings, specs: list[RunSpec]) -> str:
    """Testground's task builds the composition's groups, all of them, before its run: a
    broken build cancels the first run and so the rest (issue 1493). The error, if any."""
    import asyncio

    from choreograph.builds import build_each
    from choreograph.cli import render_builds

    try:
        for spec in specs:
            asyncio.run(build_each(spec, settings, render_builds.build_progress))
    except BuildError as exc:
        return str(exc)
    return ""


def _broken(
    settings: Settings,
    spec: RunSpec,
    data: dict[str, Any],
    ask: RunAsk,
    daemon: bool,
    error: str,
) -> Outcome:
    """The first run of a composition whose build failed: queued, then canceled."""
    lines.plain(f"build failed: {error}")
    if not daemon:
        run_id = new_run_id()
        lines.info(f"run is queued with ID: {run_id}")
        return Outcome(spec.composition_run, run_id, "canceled", error)
    client, task_id = _submit(settings, spec, data, ask)
    try:
        client.cancel(task_id)
        for _ in range(300):  # a task canceled as it started ends a moment later
            if from_task(client.task(task_id)).state in ("complete", "canceled"):
                break
            time.sleep(0.1)
    finally:
        client.close()
    return Outcome(spec.composition_run, task_id, "canceled", error)


def _selected(specs: list[RunSpec], run_ids: tuple[str, ...]) -> list[RunSpec]:
    if not run_ids:
        return specs
    by_id = {spec.composition_run: spec for spec in specs}
    unknown = [r for r in run_ids if r not in by_id]
    if unknown:
        raise InputError(
            f"--run-ids: no run {', '.join(map(repr, unknown))} in the composition "
            f"(its runs: {', '.join(by_id)})"
        )
    return [by_id[r] for r in run_ids]


def _here(
    settings: Settings, spec: RunSpec, ask: RunAsk, disabled: bool, many: bool, first: bool
) -> Outcome:
    run_id = new_run_id()
    while RunLayout(settings.runs_dir, run_id).root.exists():
        run_id = new_run_id()
    lines.info(f"run is queued with ID: {run_id}")
    if disabled:
        return _canceled_here(settings, spec, run_id)
    options = RunOptions(
        timeout_s=settings.run_timeout_s, stop_grace_s=settings.stop_grace_s, run_id=run_id
    )
    try:
        result = execute_rendered(spec, settings, options, messages=False)
    except BuildError as exc:
        lines.plain(f"build failed: {exc}")
        return Outcome(spec.composition_run, run_id, "canceled", str(exc))
    lines.info(f"finished run with ID: {run_id}")
    if first and ask.write_artifacts is not None:
        built = {g: str(b["build_id"]) for g, b in result.builds.items()}
        composition.write_artifacts(ask.write_artifacts, built)
    if ask.collect:
        target = archive_run(run_id, _collect_path(ask, spec, run_id, many))
        lines.info(f"created file: {target}")
    return Outcome(spec.composition_run, run_id, "success" if result.success else "failure")


def _canceled_here(settings: Settings, spec: RunSpec, run_id: str) -> Outcome:
    """A run on a runner ``.env.toml`` disables: recorded, never started."""
    error = f'runner {spec.runner} is disabled ([runners."{spec.runner}"] disabled = true)'
    now = datetime.now(UTC).isoformat()
    record = {"run_id": run_id, "started": now, "ended": now, "status": "canceled"}
    RunLayout(settings.runs_dir, run_id).write_run_json(
        {**record, "error": error, "spec": spec.to_json()}
    )
    lines.warn(error)
    return Outcome(spec.composition_run, run_id, from_run(record, "canceled").outcome, error)


def _submit(
    settings: Settings, spec: RunSpec, data: dict[str, Any], ask: RunAsk
) -> tuple[DaemonClient, str]:
    """One task per run, as Testground sends them: the composition cut to this run."""
    own = copy.deepcopy(data)
    if own.get("runs"):
        own["runs"] = [r for r in own["runs"] if r.get("id") == spec.composition_run]
    own = composition.with_env_runner_config(own, session.env(), settings.plans_dir)
    repo, branch, commit = ask.metadata
    with composition.written(own, ask.name) as file:
        submission = remote.Submission(composition=file, repo=repo, branch=branch, commit=commit)
        daemon, task_id = remote.submit_task(settings, [spec], submission, None, False, [])
    lines.info(f"run is queued with ID: {task_id}")
    return daemon, task_id


def _on_daemon(
    settings: Settings, spec: RunSpec, data: dict[str, Any], ask: RunAsk, disabled: bool
) -> Outcome:
    daemon, task_id = _submit(settings, spec, data, ask)
    try:
        if disabled:
            daemon.cancel(task_id)
            lines.warn(f"runner {spec.runner} is disabled in .env.toml: task canceled")
        else:
            remote.follow(daemon, task_id, messages=False)
        view = from_task(daemon.task(task_id))
        for _ in range(300):  # a task canceled as it started ends a moment later
            if view.state in ("complete", "canceled"):
                break
            time.sleep(0.1)
            view = from_task(daemon.task(task_id))
    finally:
        daemon.close()
    if view.state in ("complete", "canceled") and not disabled:
        lines.info(f"finished run with ID: {task_id}")
    if ask.collect and view.outcome != "canceled":
        target = _collect_path(ask, spec, task_id, False)
        remote.download_outputs(settings, task_id, target)
        rename_top(target, task_id)
        lines.info(f"created file: {target}")
    return Outcome(spec.composition_run, task_id, view.outcome, view.error)


def _collect_path(ask: RunAsk, spec: RunSpec, task: str, many: bool) -> Path:
    """Testground's names: ``<collect-file or id>.tgz``; with several runs
    ``<collect-file or multiple>-<run>-<id>.tgz``."""
    if many:
        return Path(f"{ask.collect_file or 'multiple'}-{spec.composition_run}-{task}.tgz")
    return Path(f"{ask.collect_file or task}.tgz")


def _show(results: list[Outcome], result_file: Path | None) -> None:
    for r in results:
        lines.info(f"result {r.run}[{r.task}]: {r.outcome}")
    if result_file is None:
        return
    with result_file.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["run_id", "task_id", "outcome", "error"])
        for r in results:
            writer.writerow([r.run, r.task, r.outcome, r.error])
