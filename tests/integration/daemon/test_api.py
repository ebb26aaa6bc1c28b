"""The JSON API in-process: auth on and off, uploads refused, the task lifecycle while
queued (the scheduler does not run here; runs are in test_runs.py)."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from choreograph.daemon.client import pack

from .conftest import EXAMPLES, TOKEN, api_client

ROUTES = [
    ("GET", "/api/health"),
    ("GET", "/api/tasks"),
    ("POST", "/api/tasks"),
    ("GET", "/api/tasks/{id}"),
    ("POST", "/api/tasks/{id}/cancel"),
    ("DELETE", "/api/tasks/{id}"),
    ("GET", "/api/tasks/{id}/events"),
    ("GET", "/api/tasks/{id}/logs"),
    ("GET", "/api/tasks/{id}/outputs"),
    ("GET", "/api/tasks/{id}/report"),
    ("GET", "/api/tasks/t-unknown"),
    ("GET", "/api/nothing-here"),
    ("GET", "/docs"),
    ("GET", "/openapi.json"),
]


def _submit(client: TestClient, plan_dir: Path = EXAMPLES / "sync", **request: Any) -> Any:
    request.setdefault("case", "all")
    files = {"plan": ("plan.tgz", pack(plan_dir), "application/gzip")}
    return client.post("/api/tasks", data={"request": json.dumps(request)}, files=files)


def _tar(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> io.BytesIO:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        manifest = (EXAMPLES / "sync" / "manifest.toml").read_bytes()
        info = tarfile.TarInfo("manifest.toml")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
        bad = tarfile.TarInfo(name)
        bad.type, bad.linkname = kind, linkname
        tar.addfile(bad, io.BytesIO(b"") if kind == tarfile.REGTYPE else None)
    out.seek(0)
    return out


def test_without_tokens_everyone_is_local(tmp_path: Path) -> None:
    with api_client(tmp_path, tokens=False) as client:
        assert client.get("/api/health").json()["auth"] is False
        response = _submit(client, metadata={"branch": "main", "commit": "abc"})
        assert response.status_code == 201, response.text
        task = client.get(f"/api/tasks/{response.json()['id']}").json()
        assert task["submitter"] == "local" and task["state"] == "scheduled"
        assert task["plan"] == "sync" and task["target"] == "all"
        assert task["metadata"]["branch"] == "main"


def test_with_tokens_every_route_needs_one(tmp_path: Path) -> None:
    with api_client(tmp_path, tokens=True) as client:
        good = {"Authorization": f"Bearer {TOKEN}"}
        files = {"plan": ("plan.tgz", pack(EXAMPLES / "sync"), "application/gzip")}
        created = client.post(
            "/api/tasks", data={"request": '{"case": "all"}'}, files=files, headers=good
        )
        assert created.status_code == 201, created.text
        task_id = created.json()["id"]
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            for method, path in ROUTES:
                response = client.request(method, path.format(id=task_id), headers=headers)
                assert response.status_code == 401, (method, path, response.status_code)
                assert response.headers["www-authenticate"] == "Bearer"
                assert task_id not in response.text and "sync" not in response.text
        task = client.get(f"/api/tasks/{task_id}", headers=good).json()
        assert task["submitter"] == "ci"
        assert client.get("/docs", headers=good).status_code == 404  # no schema with tokens


@pytest.mark.parametrize(
    ("archive", "problem"),
    [
        (_tar("../escape.py"), "'..'"),
        (_tar("/abs.py"), "absolute path"),
        (_tar("link", tarfile.SYMTYPE, "../../../etc/passwd"), "outside the archive"),
        (_tar("fifo", tarfile.FIFOTYPE), "device or fifo"),
    ],
)
def test_refused_uploads(tmp_path: Path, archive: io.BytesIO, problem: str) -> None:
    with api_client(tmp_path, tokens=False) as client:
        files = {"plan": ("plan.tgz", archive, "application/gzip")}
        response = client.post("/api/tasks", data={"request": '{"case": "all"}'}, files=files)
        assert response.status_code == 400 and problem in response.json()["detail"]
        assert response.json()["exit_code"] == 2
        assert client.get("/api/tasks").json()["tasks"] == []
        tasks_dir = tmp_path / "daemon" / "tasks"
        assert list(tasks_dir.iterdir()) == []  # nothing staged is left behind
        assert not (tmp_path / "escape.py").exists()


def test_too_large_is_413(tmp_path: Path) -> None:
    with api_client(tmp_path, tokens=False, max_upload_mib=0.01) as client:
        big = io.BytesIO(b"\0" * 50_000)
        files = {"plan": ("plan.tgz", big, "application/gzip")}
        response = client.post("/api/tasks", data={"request": "{}"}, files=files)
        assert response.status_code == 413
        assert "upload limit of 0.01 MiB" in response.json()["detail"]

        def chunks() -> Any:  # no Content-Length: counted as it streams
            for _ in range(50):
                yield b"x" * 1000

        response = client.post(
            "/api/tasks",
            content=chunks(),
            headers={"Content-Type": "multipart/form-data; boundary=xyz"},
        )
        assert response.status_code == 413


def test_bad_input_is_refused_like_the_cli(tmp_path: Path) -> None:
    with api_client(tmp_path, tokens=False) as client:
        response = _submit(client, case="<script>nope</script>")
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert body["exit_code"] == 2 and "<script>nope</script>" in body["detail"]
        assert "barrier" in body["detail"]  # names the cases there are
        response = _submit(client, instances=0)
        assert response.status_code == 400 and "instances" in response.json()["detail"]


def test_queued_lifecycle_filters_and_pages(tmp_path: Path) -> None:
    with api_client(tmp_path, tokens=False) as client:
        ids = [
            _submit(client, metadata={"branch": "a" if n % 2 else "b"}).json()["id"]
            for n in range(5)
        ]
        page = client.get("/api/tasks", params={"branch": "a", "limit": 1}).json()
        assert [t["id"] for t in page["tasks"]] == [ids[3]]
        page = client.get("/api/tasks", params={"branch": "a", "before": page["next_before"]})
        assert [t["id"] for t in page.json()["tasks"]] == [ids[1]]
        assert client.delete(f"/api/tasks/{ids[0]}").status_code == 409  # still queued
        canceled = client.post(f"/api/tasks/{ids[0]}/cancel").json()
        assert canceled["state"] == "canceled" and canceled["error"] == "canceled by local"
        assert client.post(f"/api/tasks/{ids[0]}/cancel").status_code == 409
        events = client.get(f"/api/tasks/{ids[0]}/events").text
        assert "event: end" in events and '"state": "canceled"' in events
        assert client.get(f"/api/tasks/{ids[0]}/outputs").status_code == 404  # no run
        assert client.delete(f"/api/tasks/{ids[0]}").status_code == 204
        assert client.get(f"/api/tasks/{ids[0]}").status_code == 404
        assert not (tmp_path / "daemon" / "tasks" / ids[0]).exists()
