"""The daemon's API as Python calls, for the CLI's ``--endpoint`` (httpx, blocking).

Errors become Choreograph's own, so ``reported()`` gives the usual exit statuses: a
request the daemon refuses as bad input is an InputError (2), a daemon that cannot be
reached a HostError (4).
"""

from __future__ import annotations

import json
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx
from httpx_sse import connect_sse

from choreograph.daemon.schemas import Task, TaskPage, TaskRequest
from choreograph.errors import HostError, InputError

LEFT_OUT = ("__pycache__", ".git", "node_modules")
"""Not uploaded with a plan or a dependency tree: caches a build remakes."""

RETRIES = 5


class RemoteError(InputError):
    """The daemon refused a request; ``exit_code`` is what the CLI exits with."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def pack(folder: Path) -> IO[bytes]:
    """``folder`` as a tar.gz in a temporary file (names relative to it; caches left out)."""

    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        return None if Path(info.name).name in LEFT_OUT else info

    out = tempfile.TemporaryFile()  # noqa: SIM115 - the caller closes it
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for entry in sorted(folder.iterdir()):
            tar.add(entry, arcname=entry.name, filter=keep)
    out.seek(0)
    return out


class DaemonClient:
    def __init__(self, endpoint: str, token: str = "", timeout: float = 60.0) -> None:
        self.endpoint = endpoint.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.endpoint, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise HostError(f"cannot reach the daemon at {self.endpoint}: {exc}") from None
        _check(response, self.endpoint)
        return response

    def submit(
        self,
        request: TaskRequest,
        plan_dir: Path,
        composition: Path | None = None,
        deps: dict[str, Path] | None = None,
    ) -> str:
        """Upload the plan folder (and composition, dependency trees); the new task's id."""
        files: list[tuple[str, tuple[str, IO[bytes], str]]] = [
            ("plan", ("plan.tgz", pack(plan_dir), "application/gzip"))
        ]
        if composition is not None:
            files.append(("composition", (composition.name, composition.open("rb"), "text/plain")))
        for name, tree in (deps or {}).items():
            files.append(("deps", (name, pack(tree), "application/gzip")))
        try:
            data = {"request": request.model_dump_json()}
            response = self._call("POST", "/api/tasks", data=data, files=files)
        finally:
            for _, (_, stream, _) in files:
                stream.close()
        return str(response.json()["id"])

    def task(self, task_id: str) -> Task:
        return Task.model_validate(self._call("GET", f"/api/tasks/{task_id}").json())

    def tasks(
        self, filters: dict[str, str], limit: int = 50, before: str | None = None
    ) -> TaskPage:
        params: dict[str, Any] = {**filters, "limit": limit}
        if before:
            params["before"] = before
        return TaskPage.model_validate(self._call("GET", "/api/tasks", params=params).json())

    def cancel(self, task_id: str) -> Task:
        return Task.model_validate(self._call("POST", f"/api/tasks/{task_id}/cancel").json())

    def delete(self, task_id: str) -> None:
        self._call("DELETE", f"/api/tasks/{task_id}")

    def health(self) -> dict[str, Any]:
        found: dict[str, Any] = self._call("GET", "/api/health").json()
        return found

    def events(self, task_id: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(event, data)`` from the first progress event to ``end``; a dropped stream
        is resumed where it stopped."""
        return self._stream(f"/api/tasks/{task_id}/events", {})

    def logs(
        self, task_id: str, instance: str | None = None, follow: bool = False
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        params: dict[str, Any] = {"follow": str(follow).lower()}
        if instance:
            params["instance"] = instance
        return self._stream(f"/api/tasks/{task_id}/logs", params, resume=False)

    def _stream(
        self, path: str, params: dict[str, Any], resume: bool = True
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        last, tries = "", 0
        while True:
            headers = {"Last-Event-ID": last} if last else {}
            try:
                with connect_sse(
                    self._http, "GET", path, params=params, headers=headers, timeout=None
                ) as source:
                    _check(source.response, self.endpoint)
                    for sse in source.iter_sse():
                        last, tries = sse.id or last, 0
                        if sse.event == "message" and not sse.data:
                            # The server's keep-alive (a comment every 15 s): httpx-sse
                            # yields it as an empty "message" once an event had an id.
                            continue
                        yield sse.event, json.loads(sse.data) if sse.data else {}
                        if sse.event == "end":
                            return
            except httpx.TransportError as exc:
                tries += 1
                if not resume or tries > RETRIES:
                    raise HostError(f"lost the daemon at {self.endpoint}: {exc}") from None
                time.sleep(0.2 * tries)
                continue
            if not resume:
                return

    def download(self, task_id: str, what: str, target: Path) -> int:
        """Write ``/api/tasks/<id>/<what>`` (``outputs`` or ``report``) to ``target``."""
        try:
            with self._http.stream("GET", f"/api/tasks/{task_id}/{what}") as response:
                if response.is_error:
                    response.read()
                _check(response, self.endpoint)
                with target.open("wb") as out:
                    for chunk in response.iter_bytes():
                        out.write(chunk)
        except httpx.TransportError as exc:
            raise HostError(f"cannot reach the daemon at {self.endpoint}: {exc}") from None
        return target.stat().st_size


def answers(endpoint: str, token: str = "", timeout: float = 1.0) -> bool:
    """Whether a Choreograph daemon answers at ``endpoint`` (one that wants another
    token still answers); False for nothing there or for another server."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.get(f"{endpoint.rstrip('/')}/api/health", headers=headers, timeout=timeout)
    except (httpx.HTTPError, ValueError):
        return False
    return response.status_code == 401 or (
        response.is_success and "json" in response.headers.get("content-type", "")
    )


def _check(response: httpx.Response, endpoint: str) -> None:
    if not response.is_error:
        return
    try:
        if not response.is_closed:
            response.read()
        body = response.json()
    except (ValueError, httpx.StreamError):
        body = {"detail": response.text if response.is_closed else ""}
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if not isinstance(detail, str):
        detail = json.dumps(detail)
    if response.status_code == 401:
        detail = f"the daemon at {endpoint} wants a token: {detail} (set CHOREO_TOKEN)"
    code = body.get("exit_code", 2) if isinstance(body, dict) else 2
    raise RemoteError(detail, int(code or 2))
