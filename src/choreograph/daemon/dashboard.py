"""The web dashboard the daemon serves at ``/`` (docs/daemon.md, "Dashboard").

Pages are rendered here, on the server, by Jinja2 templates with autoescape on: text
from plans (messages, errors, group ids, params) is escaped wherever it is printed. The
little JavaScript in ``static/`` only swaps in fragments this module renders, or writes
streamed text with ``textContent``; it never builds markup from a plan's text. Pages
send a Content-Security-Policy that allows scripts from ``/static/`` only, so even a
missed escape could not run inline script.

Everything live comes from the JSON API the CLI uses (the task's SSE events and logs)
or from fragments polled here; nothing is rendered for all tasks at once (the list is
one page of the store's index), so 10,000 tasks cost what 50 do.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.concurrency import run_in_threadpool

from choreograph.daemon import views
from choreograph.daemon.auth import COOKIE
from choreograph.daemon.compare_view import compare_view
from choreograph.daemon.schemas import Task
from choreograph.daemon.streams import instance_sources
from choreograph.results.layout import RunLayout

if TYPE_CHECKING:
    from choreograph.daemon.app import Daemon

HERE = Path(__file__).parent
PER_PAGE = 50
STATES = ("scheduled", "processing", "complete", "canceled")
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-src 'self'; frame-ancestors 'self'; base-uri 'none'; form-action 'self'; "
    "object-src 'none'"
)

_env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.globals.update(when=views.when, duration=views.duration, tone=views.tone)

router = APIRouter(include_in_schema=False)


def install(app: FastAPI) -> None:
    """Add the pages and ``/static`` to the daemon's app."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")


def _daemon(request: Request) -> Daemon:
    found: Daemon = request.app.state.daemon
    return found


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    tokens = _daemon(request).tokens
    text = _env.get_template(template).render(
        auth=tokens.required, user=getattr(request.state, "submitter", ""), **context
    )
    headers = {
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
        "Referrer-Policy": "same-origin",
    }
    return HTMLResponse(text, status, headers=headers)


def _filters(**given: str | None) -> dict[str, str]:
    return {k: v for k, v in given.items() if v}


def _task_or_404(request: Request, task_id: str) -> Task | HTMLResponse:
    task: Task | None = _daemon(request).store.get(task_id)
    if task is None:
        return render(request, "error.html", 404, title="Not found", detail=f"no task {task_id}")
    return task


@router.get("/")
async def tasks_page(
    request: Request,
    state: str = "",
    plan: str = "",
    branch: str = "",
    submitter: str = "",
    before: str = "",
) -> HTMLResponse:
    """The task list: one page, newest first, filtered; its rows refresh by polling."""
    filters, tasks = _listed(request, state, plan, branch, submitter, before)
    store = _daemon(request).store
    return render(
        request,
        "tasks.html",
        tasks=tasks,
        filters=filters,
        before=before,
        states=STATES,
        counts=store.statistics(),
        next_before=tasks[-1].id if len(tasks) == PER_PAGE else "",
        rows_query=urlencode({**filters, **({"before": before} if before else {})}),
    )


@router.get("/part/tasks")
async def task_rows(
    request: Request,
    state: str = "",
    plan: str = "",
    branch: str = "",
    submitter: str = "",
    before: str = "",
) -> HTMLResponse:
    """The list's rows alone, for the page's poll."""
    _, tasks = _listed(request, state, plan, branch, submitter, before)
    return render(request, "_task_rows.html", tasks=tasks)


def _listed(
    request: Request, state: str, plan: str, branch: str, submitter: str, before: str
) -> tuple[dict[str, str], list[Task]]:
    """The filters of a task-list request and the page of tasks they select."""
    filters = _filters(state=state, plan=plan, branch=branch, submitter=submitter)
    return filters, _daemon(request).store.page(filters, PER_PAGE, before or None)


def _task_context(request: Request, task: Task, failed: int) -> dict[str, Any]:
    runs_dir = _daemon(request).settings.runs_dir
    return {
        "task": task,
        "run": views.run_view(runs_dir, task, failed),
        "final": views.is_final(task),
    }


@router.get("/tasks/{task_id}")
async def task_page(
    request: Request, task_id: str, failed: Annotated[int, Query(ge=0)] = 0
) -> HTMLResponse:
    """One task: facts, live progress (SSE), outcome, failed instances, builds, logs."""
    task = _task_or_404(request, task_id)
    if isinstance(task, HTMLResponse):
        return task
    context = await run_in_threadpool(_task_context, request, task, failed)
    return render(request, "task.html", **context)


@router.get("/tasks/{task_id}/part/{name}")
async def task_part(
    request: Request, task_id: str, name: str, failed: Annotated[int, Query(ge=0)] = 0
) -> HTMLResponse:
    """A section of the task page (``facts`` or ``final``), re-fetched when the run
    starts and when it ends, so the page follows the task without a reload."""
    if name not in ("facts", "final"):
        return render(request, "error.html", 404, title="Not found", detail=name)
    task = _task_or_404(request, task_id)
    if isinstance(task, HTMLResponse):
        return task
    context = await run_in_threadpool(_task_context, request, task, failed)
    return render(request, f"_{name}.html", **context)


@router.get("/tasks/{task_id}/instances/{key:path}")
async def instance_page(request: Request, task_id: str, key: str) -> HTMLResponse:
    """One instance: its outcome, stderr tail, and its ``run.out`` followed live."""
    task = _task_or_404(request, task_id)
    if isinstance(task, HTMLResponse):
        return task
    layout = RunLayout(_daemon(request).settings.runs_dir, task.run_id) if task.run_id else None
    if layout is None or not layout.run_json.is_file() or key not in instance_sources(layout):
        detail = f"task {task_id} has no instance {key}"
        return render(request, "error.html", 404, title="Not found", detail=detail)
    instance = await run_in_threadpool(views.instance_view, layout, key)
    return render(request, "instance.html", task=task, instance=instance)


@router.get("/compare")
async def compare_page(request: Request, a: str = "", b: str = "", metric: str = "") -> Response:
    """Two tasks' runs (or run ids) on one metric: the verdict, the statistics, the plot."""
    daemon = _daemon(request)
    view = await run_in_threadpool(
        compare_view, daemon.store, daemon.settings, a.strip(), b.strip(), metric
    )
    return render(request, "compare.html", view=view)


@router.get("/login")
async def login_form(request: Request, next: str = "/") -> Response:
    if not _daemon(request).tokens.required:
        return RedirectResponse("/", 303)
    return render(request, "login.html", next=_local(next), error="")


@router.post("/login")
async def login(
    request: Request, token: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/"
) -> Response:
    """Check the token, then keep it in an HttpOnly, SameSite=Strict cookie: scripts
    cannot read it and other sites' pages cannot make the browser send it."""
    tokens = _daemon(request).tokens
    if not tokens.required:
        return RedirectResponse("/", 303)
    if tokens.who(f"Bearer {token}") is None:
        return render(request, "login.html", 401, next=_local(next), error="unknown token")
    response = RedirectResponse(_local(next), 303)
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/logout")
async def logout() -> Response:
    response = RedirectResponse("/login", 303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


def _local(target: str) -> str:
    """``target`` if it is a path of this site, else ``/``: the login form must not
    send anyone to another site."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"
