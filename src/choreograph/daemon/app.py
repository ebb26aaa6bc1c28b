"""The daemon's JSON API, under ``/api/`` (docs/daemon.md has the table). Each route's
docstring is its documentation (FastAPI shows it at ``/docs`` when no tokens are set).

Text that comes from plans (errors, log lines, event messages) only ever leaves as JSON
or as the escaped HTML of the existing report; nothing here builds HTML (the dashboard's
pages are ``dashboard``'s, rendered by autoescaping templates).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from sse_starlette import EventSourceResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from choreograph import __version__, exits
from choreograph.config import Settings
from choreograph.daemon import streams
from choreograph.daemon.auth import Tokens
from choreograph.daemon.inputs import plan_name, resolve
from choreograph.daemon.queue import Scheduler
from choreograph.daemon.retention import delete_task
from choreograph.daemon.schemas import FINAL_STATES, Submitted, Task, TaskPage, TaskRequest
from choreograph.daemon.tasks import TaskStore, new_task_id
from choreograph.daemon.uploads import stage_inputs
from choreograph.errors import ChoreographError
from choreograph.results.layout import RunLayout


@dataclass
class Daemon:
    """What the routes share: the store, the scheduler and the limits."""

    settings: Settings
    store: TaskStore
    scheduler: Scheduler
    tokens: Tokens
    max_upload_bytes: int

    @property
    def tasks_dir(self) -> Path:
        return self.scheduler.tasks_dir


def create_app(daemon: Daemon, lifespan: Any = None) -> FastAPI:
    """The ASGI app; ``lifespan`` (the server's) runs the scheduler beside it."""
    from choreograph.daemon.dashboard import install
    from choreograph.daemon.middleware import Authenticate, BodyLimit

    docs = not daemon.tokens.required  # with tokens, nothing is served without one
    app = FastAPI(
        title="Choreograph daemon",
        version=__version__,
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.state.daemon = daemon
    app.add_middleware(BodyLimit, max_bytes=daemon.max_upload_bytes)
    app.add_middleware(Authenticate, tokens=daemon.tokens)
    app.include_router(_routes())
    install(app)  # the web dashboard: /, /tasks/…, /compare, /login, /static
    return app


def _daemon(request: Request) -> Daemon:
    found: Daemon = request.app.state.daemon
    return found


def _task(daemon: Daemon, task_id: str) -> Task:
    task = daemon.store.get(task_id)
    if task is None:
        raise HTTPException(404, f"no task {task_id!r}")
    return task


def _routes() -> Any:
    from fastapi import APIRouter

    api = APIRouter(prefix="/api")

    @api.post("/tasks", status_code=201, response_model=Submitted)
    async def submit(request: Request) -> Any:
        """Queue a task. Multipart form: ``request`` (JSON, :class:`TaskRequest`), ``plan``
        (the plan folder as tar.gz), optional ``composition`` (the TOML file; its file
        name is kept) and ``deps`` (one tar.gz per local dependency tree, each file
        named by the path the composition writes). 201 ``{id, state}``; 400
        ``{detail, exit_code}`` for input the CLI would refuse (exit_code 2); 413 over
        the upload limit."""
        daemon = _daemon(request)
        form = await request.form(max_files=1000, max_part_size=1 << 20)
        try:
            body = TaskRequest.model_validate_json(str(form.get("request") or "{}"))
            plan = form.get("plan")
            if not isinstance(plan, UploadFile):
                raise ChoreographError("the form has no 'plan' archive")
            composition = form.get("composition")
            deps = [d for d in form.getlist("deps") if isinstance(d, UploadFile)]
            task_id = new_task_id()
            while (daemon.tasks_dir / task_id).exists():  # 4 random characters per second
                task_id = new_task_id()
            folder = await run_in_threadpool(
                stage_inputs,
                daemon.tasks_dir,
                task_id,
                plan,
                composition if isinstance(composition, UploadFile) else None,
                deps,
                daemon.max_upload_bytes,
            )
            try:
                specs = resolve(folder, body)
            except BaseException:
                shutil.rmtree(folder.root, ignore_errors=True)
                raise
        except ChoreographError as exc:
            code = exits.exit_status(exc) or exits.EXIT_INPUT
            return JSONResponse({"detail": exits.message(exc), "exit_code": code}, 400)
        except ValueError as exc:  # the request JSON
            return JSONResponse({"detail": f"request: {exc}", "exit_code": 2}, 400)
        target = folder.composition_file()
        name = specs[0].plan if specs else plan_name(folder.plan_dir)
        daemon.store.add(
            task_id, body, name, target.name if target else body.case, request.state.submitter
        )
        task = _task(daemon, task_id)
        daemon.scheduler.submitted(task)
        return Submitted(id=task_id, state=task.state)

    @api.get("/tasks", response_model=TaskPage)
    async def list_tasks(
        request: Request,
        state: str | None = None,
        plan: str | None = None,
        branch: str | None = None,
        submitter: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        before: str | None = None,
    ) -> Any:
        """Tasks, newest first, filtered by ``state``, ``plan``, ``branch``, ``submitter``;
        ``limit`` per page, ``before`` (a task id, the previous page's ``next_before``)
        for the next page."""
        chosen = {"state": state, "plan": plan, "branch": branch, "submitter": submitter}
        filters = {k: v for k, v in chosen.items() if v is not None}
        tasks = _daemon(request).store.page(filters, limit, before)
        more = tasks[-1].id if len(tasks) == limit else None
        return TaskPage(tasks=tasks, next_before=more)

    @api.get("/tasks/{task_id}", response_model=Task)
    async def get_task(request: Request, task_id: str) -> Any:
        """One task: state, outcome, exit_code, error, timings, run id, request."""
        return _task(_daemon(request), task_id)

    @api.post("/tasks/{task_id}/cancel", response_model=Task)
    async def cancel(request: Request, task_id: str) -> Any:
        """Cancel a queued task, or stop a running one (its instances get their grace
        period; the task ends ``canceled``). 409 if the task had already ended."""
        daemon = _daemon(request)
        _task(daemon, task_id)
        if not daemon.scheduler.cancel(task_id, request.state.submitter):
            raise HTTPException(409, f"task {task_id} has already ended")
        return _task(daemon, task_id)

    @api.delete("/tasks/{task_id}", status_code=204)
    async def delete(request: Request, task_id: str) -> None:
        """Delete an ended task with its inputs, event log and run folders (409 while it
        is queued or running: cancel it first)."""
        daemon = _daemon(request)
        if _task(daemon, task_id).state not in FINAL_STATES:
            raise HTTPException(409, f"task {task_id} has not ended; cancel it first")
        delete_task(daemon.store, daemon.settings, daemon.tasks_dir, task_id)

    @api.get("/tasks/{task_id}/events")
    async def events(request: Request, task_id: str) -> EventSourceResponse:
        """Server-sent events: every progress event of the task from the first (``event:
        progress``, data: the event as JSON with its ``type``; after each run a
        ``RunFinished`` record), following until the task ends, then ``event: end``
        with ``state``, ``outcome``, ``exit_code``, ``error``. Send ``Last-Event-ID`` to
        resume after an event."""
        daemon = _daemon(request)
        _task(daemon, task_id)
        last = request.headers.get("last-event-id", "0")
        skip = int(last) if last.isdigit() else 0
        folder = daemon.scheduler.folder(task_id)
        return EventSourceResponse(streams.task_events(daemon.store, task_id, folder.events, skip))

    @api.get("/tasks/{task_id}/logs")
    async def logs(
        request: Request, task_id: str, instance: str | None = None, follow: bool = False
    ) -> EventSourceResponse:
        """Server-sent events, one ``event: line`` per log line (data: ``instance``,
        ``number``, ``text``, ``flags``): the instance's ``run.out`` (``instance=GROUP/
        INDEX``), or every instance's merged by time; with ``follow=true`` until the
        task ends. Then ``event: end``. 404 for an instance the run does not have."""
        daemon = _daemon(request)
        _task(daemon, task_id)
        runs_dir = daemon.settings.runs_dir
        task = await streams.wait_run(daemon.store, runs_dir, task_id, follow)
        if task is None:
            return EventSourceResponse(streams.no_lines(daemon.store.get(task_id)))
        layout = RunLayout(runs_dir, task.run_id)
        sources = streams.instance_sources(layout)
        if instance is not None:
            if instance not in sources:
                raise HTTPException(404, f"run {task.run_id} has no instance {instance!r}")
            sources = {instance: sources[instance]}
        lines = streams.log_lines(daemon.store, task_id, layout, sources, follow)
        return EventSourceResponse(lines)

    @api.get("/tasks/{task_id}/outputs")
    async def outputs(request: Request, task_id: str) -> FileResponse:
        """The run folder as ``choreo collect`` archives it (tar.gz)."""
        from choreograph.results.collect import collect_run

        daemon = _daemon(request)
        layout = _layout(daemon, _task(daemon, task_id))
        folder = daemon.scheduler.folder(task_id)
        await run_in_threadpool(collect_run, layout, folder.outputs)
        return FileResponse(folder.outputs, filename=f"{layout.run_id}.tgz")

    @api.get("/tasks/{task_id}/report")
    async def report(request: Request, task_id: str) -> HTMLResponse:
        """The run's HTML report, as ``choreo report`` writes it (needs the ``[report]``
        extra on the daemon's host: 501 without it)."""
        daemon = _daemon(request)
        layout = _layout(daemon, _task(daemon, task_id))
        try:
            from choreograph.results.report import run_report
            from choreograph.results.tables import load
        except ImportError as exc:
            raise HTTPException(501, f"reports need the [report] extra: {exc}") from None
        text = await run_in_threadpool(lambda: run_report(load(layout.root)))
        return HTMLResponse(text, headers={"X-Content-Type-Options": "nosniff"})

    @api.get("/health")
    async def health(request: Request) -> dict[str, Any]:
        """``{status, version, auth, tasks: {state: count}, scheduler: {workers,
        running}}``."""
        daemon = _daemon(request)
        return {
            "status": "ok",
            "version": __version__,
            "auth": daemon.tokens.required,
            "tasks": daemon.store.statistics(),
            "scheduler": daemon.scheduler.statistics(),
        }

    return api


def _layout(daemon: Daemon, task: Task) -> RunLayout:
    layout = RunLayout(daemon.settings.runs_dir, task.run_id) if task.run_id else None
    if layout is None or not layout.run_json.is_file():
        raise HTTPException(404, f"task {task.id} has no run yet (state {task.state})")
    return layout


@contextlib.asynccontextmanager
async def no_lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield
