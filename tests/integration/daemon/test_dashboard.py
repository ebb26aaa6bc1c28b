"""The web dashboard over HTTP, in-process (the scheduler idle; tasks and run folders are
put in place by hand, real runs come from ``choreo run`` embedded): pages render, text
from plans is escaped everywhere, auth by cookie when tokens are set, and the task list
costs the same with 10,000 tasks as with 60. Browser tests: tests/e2e/test_dashboard_browser.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

from fastapi.testclient import TestClient

from choreograph.daemon.schemas import Metadata, TaskRequest
from choreograph.daemon.tasks import TaskStore, new_task_id

from .conftest import EXAMPLES, REPO, TOKEN, api_client

HOSTILE = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def _store(client: TestClient) -> TaskStore:
    store: TaskStore = client.app.state.daemon.store  # type: ignore[attr-defined]
    return store


def _add(
    store: TaskStore,
    plan: str = "sync",
    branch: str = "main",
    submitter: str = "local",
    **request: str,
) -> str:
    task_id = new_task_id()
    body = TaskRequest(case="all", metadata=Metadata(branch=branch), **request)  # type: ignore[arg-type]
    store.add(task_id, body, plan, "all", submitter)
    return task_id


def _hostile_run(home: Path, store: TaskStore) -> str:
    """A finished task whose run has a hostile group id, error, message and provenance."""
    task_id = _add(store, plan=HOSTILE, branch=HOSTILE, test_params={HOSTILE: HOSTILE})
    run_id = "20261130-120000-000aaaaaa"
    root = home / "runs" / run_id
    key = f"{HOSTILE}/0"
    record = {
        "run_id": run_id,
        "status": "failure",
        "stop_reason": HOSTILE,
        "spec": {"plan": HOSTILE, "case": "all", "groups": [{"id": HOSTILE, "instances": 1}]},
        "builds": {HOSTILE: {"builder": HOSTILE, "build_id": "b1", "provenance": {"x": HOSTILE}}},
        "outcome": {
            "success": False,
            "groups": [
                {"group": HOSTILE, "total": 1, "ok": 0, "failed": 1, "crashed": 0, "stopped": 0}
            ],
            "instances": {key: {"status": "failure", "error": HOSTILE, "returncode": 1}},
        },
    }
    folder = root / HOSTILE / "0"
    folder.mkdir(parents=True)
    (folder / "run.err").write_text(f"Traceback: {HOSTILE}\n")
    (folder / "run.out").write_text(json.dumps({"event": {"message_event": HOSTILE}}) + "\n")
    (root / "run.json").write_text(json.dumps(record))
    store.set_run(task_id, run_id)
    store.finish(task_id, "complete", "failure", 1, HOSTILE)
    return task_id


def test_pages_render_and_filter_without_tokens(tmp_path: Path) -> None:
    with api_client(tmp_path, tokens=False) as client:
        store = _store(client)
        done = _add(store, plan="sync", branch="main")
        store.finish(done, "complete", "success", 0)
        queued = _add(store, plan="pingpong", branch="feature", submitter="alice")
        page = client.get("/")
        assert page.status_code == 200 and done in page.text and queued in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert '<script src="/static/tasks.js"' in page.text
        only = client.get("/", params={"state": "scheduled"}).text
        assert queued in only and done not in only
        assert done not in client.get("/", params={"branch": "feature"}).text
        assert queued in client.get("/part/tasks", params={"submitter": "alice"}).text
        assert "no tasks match" in client.get("/", params={"plan": "nothing"}).text
        task = client.get(f"/tasks/{queued}")
        assert task.status_code == 200 and 'id="cancel"' in task.text
        assert f"/api/tasks/{queued}/events" in task.text
        assert client.get(f"/tasks/{queued}/part/facts").status_code == 200
        assert client.get(f"/tasks/{queued}/part/nope").status_code == 404
        assert client.get("/tasks/t-unknown").status_code == 404
        assert client.get(f"/tasks/{queued}/instances/single/0").status_code == 404  # no run yet
        assert client.get("/login", follow_redirects=False).status_code == 303  # no tokens
        for name in ("dashboard.css", "tasks.js", "task.js", "log.js", "instance.js"):
            assert client.get(f"/static/{name}").status_code == 200


def test_text_from_plans_is_escaped_on_every_page(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with api_client(home, tokens=False) as client:
        task_id = _hostile_run(home, _store(client))
        instance = f"/tasks/{task_id}/instances/{quote(HOSTILE + '/0', safe='/')}"
        pages = [
            "/",
            f"/?branch={quote(HOSTILE)}",
            "/part/tasks",
            f"/tasks/{task_id}",
            f"/tasks/{task_id}/part/facts",
            f"/tasks/{task_id}/part/final",
            instance,
            f"/tasks/{quote('<script>alert(1)<script>')}",  # 404 page; no "/" in a path part
            f"/compare?a={quote(HOSTILE)}&b={task_id}",
        ]
        for path in pages:
            response = client.get(path)
            assert response.status_code in (200, 404), path
            assert HOSTILE not in response.text, f"unescaped plan text in {path}"
            assert "&lt;script&gt;alert(1)" in response.text or "%3Cscript%3E" in response.text, (
                path
            )
        final = client.get(f"/tasks/{task_id}/part/final").text
        assert final.count(ESCAPED) >= 4  # group, error, stop reason, build group
        page = client.get(instance)
        assert page.status_code == 200 and f"Traceback: {ESCAPED}" in page.text


def test_with_tokens_pages_need_the_login_cookie(tmp_path: Path) -> None:
    with api_client(tmp_path, tokens=True) as client:
        task_id = _add(_store(client))
        browser = {"accept": "text/html,application/xhtml+xml"}
        for path in ("/", f"/tasks/{task_id}", "/compare", f"/tasks/{task_id}/part/facts"):
            sent = client.get(path, headers=browser, follow_redirects=False)
            assert sent.status_code == 303, path
            assert sent.headers["location"].startswith("/login?next=")
            assert task_id not in sent.text
        for path in ("/part/tasks", f"/tasks/{task_id}", "/api/tasks"):
            refused = client.get(path, follow_redirects=False)  # a script's fetch
            assert refused.status_code == 401 and task_id not in refused.text
        assert client.get("/static/task.js").status_code == 200
        form = client.get("/login", params={"next": f"/tasks/{task_id}"})
        assert form.status_code == 200 and 'type="password"' in form.text

        wrong = client.post("/login", data={"token": "x" * 20}, follow_redirects=False)
        assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
        elsewhere = client.post(
            "/login", data={"token": TOKEN, "next": "//evil.example/"}, follow_redirects=False
        )
        assert elsewhere.headers["location"] == "/"
        client.cookies.clear()
        good = client.post(
            "/login", data={"token": TOKEN, "next": f"/tasks/{task_id}"}, follow_redirects=False
        )
        assert good.status_code == 303 and good.headers["location"] == f"/tasks/{task_id}"
        cookie = good.headers["set-cookie"]
        assert cookie.startswith("choreo_token=") and "HttpOnly" in cookie
        assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
        assert TOKEN not in good.headers["location"]

        assert task_id in client.get("/").text  # the cookie is in the client's jar now
        assert client.get("/api/tasks").json()["tasks"][0]["id"] == task_id
        assert "ci" in client.get("/").text  # who is logged in
        out = client.post("/logout", follow_redirects=False)
        assert out.status_code == 303 and 'choreo_token=""' in out.headers["set-cookie"]
        client.cookies.clear()
        assert client.get("/part/tasks").status_code == 401
        bearer = client.get("/part/tasks", headers={"authorization": f"Bearer {TOKEN}"})
        assert bearer.status_code == 200 and task_id in bearer.text


def _fill(home: Path, count: int) -> TestClient:
    client = api_client(home, tokens=False)
    store = _store(client)
    request = TaskRequest(case="all", metadata=Metadata(branch="main"))
    for n in range(count):
        store.add(new_task_id(), request, "sync" if n % 3 else "pingpong", "all", "local")
    return client


def _best_of(client: TestClient, path: str, times: int = 7) -> float:
    best = float("inf")
    for _ in range(times):
        started = time.perf_counter()
        assert client.get(path).status_code == 200
        best = min(best, time.perf_counter() - started)
    return best


def test_task_list_with_10000_tasks_costs_what_60_do(tmp_path: Path) -> None:
    with _fill(tmp_path / "big", 10_000) as big, _fill(tmp_path / "small", 60) as small:
        page = big.get("/").text
        assert page.count("<tr data-task=") == 50 and "10000" in page
        older = re.search(r'id="older" href="([^"]+)"', page)
        assert older is not None
        second = big.get(older.group(1).replace("&amp;", "&")).text
        assert second.count("<tr data-task=") == 50
        assert set(re.findall(r'data-task="([^"]+)"', page)).isdisjoint(
            re.findall(r'data-task="([^"]+)"', second)
        )
        for path in ("/", "/part/tasks", "/?plan=pingpong", "/?state=complete"):
            control = _best_of(small, path)
            measured = _best_of(big, path)
            # Both render a full page of 50; generous, against the control's own time:
            # one page of an index scan, never 10,000 rows read or rendered.
            assert measured < 4 * control + 0.01, (path, measured, control)


def _run(home: Path, *args: str) -> str:
    """A real run embedded in ``home``; its run id."""
    proc = subprocess.run(
        [sys.executable, "-m", "choreograph.cli", "run", "single", *args],
        env=dict(os.environ, CHOREO_HOME=str(home), COLUMNS="200", NO_COLOR="1"),
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    found = re.search(r"run (\d{8}-\d{6}-\w+)", proc.stdout)
    assert found is not None, proc.stdout + proc.stderr
    return found.group(1)


def test_compare_and_report_of_real_runs(tmp_path: Path) -> None:
    home = tmp_path / "home"
    plan = ("--plan", str(EXAMPLES / "metrics"), "--case", "noisy", "-i", "2")
    knobs = ("--tp", "sd=5", "--tp", "samples=40", "--tp", "seed=3")
    low = _run(home, *plan, *knobs, "--tp", "mean=100")
    high = _run(home, *plan, *knobs, "--tp", "mean=150")
    with api_client(home, tokens=False) as client:
        store = _store(client)
        ids = []
        for run_id in (low, high):
            task_id = _add(store, plan="metrics")
            store.set_run(task_id, run_id)
            store.finish(task_id, "complete", "success", 0)
            ids.append(task_id)
        page = client.get("/compare", params={"a": ids[0], "b": ids[1]})
        assert page.status_code == 200, page.text
        assert "B is significantly higher than A" in page.text
        assert "<option selected>value</option>" in page.text
        assert 'src="data:image/png;base64,' in page.text
        by_run = client.get("/compare", params={"a": low, "b": ids[1], "metric": "value"})
        assert "significantly higher" in by_run.text
        missing = client.get("/compare", params={"a": ids[0], "b": "t-nothing/../x"})
        assert "neither a task id nor a run id" in missing.text

        task = client.get(f"/tasks/{ids[0]}").text
        assert 'id="report-box"' in task and f"/api/tasks/{ids[0]}/outputs" in task
        assert "exec:python" in task  # build provenance
        assert client.get(f"/api/tasks/{ids[0]}/report").status_code == 200
