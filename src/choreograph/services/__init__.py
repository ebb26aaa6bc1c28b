"""Supporting services of a run (``[[services]]``): start, wait until ready, tell the
instances where they are, stop them.

Services start one after another, in file order (a later one may need an earlier one),
before any instance. Each gets a port (its ``port``, or a free one), runs in its own
session with ``PR_SET_PDEATHSIG`` (it dies with Choreograph, even on SIGKILL), and writes
stdout and stderr to ``services/<name>.log`` in the run folder. A service is ready when
its probe succeeds: a TCP connect, an HTTP answer below 400, or a command exiting 0. A
service that exits or is not ready within its timeout fails the run: the failure names the
service, the probe and the last lines of its log, and no instance is started.

A fixed ``port`` is checked before anything starts: two services may not share one
(InputError), and one another process already listens on is a HostError (exit 4), not a
failed test. Left to itself, the service would fail to bind it while its TCP probe
reached the other process and called it ready.

Instances learn the address from ``CHOREO_SERVICE_<NAME>_HOST``, ``_PORT`` and ``_ADDR``
(``host:port``), ``<NAME>`` upper-cased with ``-`` as ``_``. At the end of the run each
service gets SIGTERM on its process group, then SIGKILL after a grace period.

``kind = "mock-collector"`` services are Choreograph's own collectors (:mod:`.mocks`):
several processes on consecutive ports, the list of addresses in ``_ADDRS``
(comma-separated, ``_ADDR`` being the first), and collectors of a group's own that only
that group's instances are told about (:class:`ServiceEnv`). Their logs are
``services/<label>/<k>/service.log``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from choreograph.errors import HostError, InputError
from choreograph.plan.spec import Artifact, ServiceSpec
from choreograph.runners._keeper_main import MARKER_VAR
from choreograph.runners.containment import Cage, RunContainment
from choreograph.runners.launch import die_with_parent, join_cage
from choreograph.services import mocks

_POLL_S = 0.05
_STOP_GRACE_S = 3.0
_TAIL_LINES = 15


def env_prefix(name: str) -> str:
    return "CHOREO_SERVICE_" + name.upper().replace("-", "_")


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def check_ports(specs: tuple[ServiceSpec, ...], host: str) -> None:
    """InputError when two services name the same fixed port, HostError when another
    process already listens on one."""
    owners: dict[int, str] = {}
    for spec in specs:
        ports = range(spec.port, spec.port + mocks.process_count(spec)) if spec.port else ()
        for port in ports:
            if port in owners:
                raise InputError(
                    f"[[services]] {owners[port]} and {spec.name} both use port {port}; "
                    "give each its own, or port = 0 for a free one"
                )
            owners[port] = spec.name
            _check_free(spec.name, host, port)


def _check_free(name: str, host: str, port: int) -> None:
    with socket.socket() as sock:
        # As a server would: a port with connections in TIME_WAIT is free to listen on.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                return  # not a clash (a privileged port, say): the service will tell
            raise HostError(
                f"service {name}: port {port} on {host} is already in use by "
                "another process; stop it, or set port = 0 in [[services]] for a free one"
            ) from exc


@dataclass
class RunningService:
    spec: ServiceSpec
    host: str
    port: int
    log: Path
    process: asyncio.subprocess.Process | None = None
    cage: Cage | None = None
    """Where the service and everything it starts live (see runners.containment): all of
    it is killed when the service stops, and swept by the run's keeper if Choreograph dies."""

    def fill(self, text: str) -> str:
        return (
            text.replace("{port}", str(self.port))
            .replace("{host}", self.host)
            .replace("{name}", self.spec.name)
        )

    def env_vars(self) -> dict[str, str]:
        prefix = env_prefix(self.spec.name)
        return {
            f"{prefix}_HOST": self.host,
            f"{prefix}_PORT": str(self.port),
            f"{prefix}_ADDR": f"{self.host}:{self.port}",
        }

    async def start(self) -> str:
        """Spawn the process; a problem (as text) when it cannot be started."""
        argv = [self.fill(arg) for arg in self.spec.command]
        env = {**os.environ, **{k: self.fill(v) for k, v in self.spec.env.items()}}
        join = self.cage.join_files if self.cage is not None else ()
        if self.cage is not None:
            env[MARKER_VAR] = self.cage.marker

        def child_setup() -> None:
            die_with_parent()
            join_cage(join)

        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            try:
                self.process = await asyncio.create_subprocess_exec(
                    *argv, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out, env=env,
                    start_new_session=True, preexec_fn=child_setup,
                )  # fmt: skip
            except OSError as exc:
                return f"service {self.spec.name}: cannot start {argv[0]}: {exc.strerror or exc}"
        return ""

    async def wait_ready(self) -> str:
        """Probe until ready; a problem with the log tail when it exits or times out."""
        assert self.process is not None
        deadline = time.monotonic() + self.spec.timeout_s
        while time.monotonic() < deadline:
            if self.process.returncode is not None:
                return self._failed(f"exited with status {self.process.returncode}")
            if await self._probe():
                return ""
            await asyncio.sleep(_POLL_S)
        return self._failed(f"not ready after {self.spec.timeout_s:g}s ({self.describe_probe()})")

    def describe_probe(self) -> str:
        s = self.spec
        if s.ready == "tcp":
            return f"tcp {self.host}:{s.ready_port or self.port}"
        if s.ready == "http":
            return f"http {self.fill(s.ready_url)}"
        return "command " + " ".join(self.fill(a) for a in s.ready_command)

    async def _probe(self) -> bool:
        s = self.spec
        try:
            if s.ready == "tcp":
                async with asyncio.timeout(1.0):
                    _, writer = await asyncio.open_connection(self.host, s.ready_port or self.port)
                writer.close()
                return True
            if s.ready == "http":
                return await asyncio.to_thread(_http_ok, self.fill(s.ready_url))
            probe = await asyncio.create_subprocess_exec(
                *(self.fill(a) for a in s.ready_command),
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            async with asyncio.timeout(5.0):
                return await probe.wait() == 0
        except (OSError, TimeoutError):
            return False

    def _failed(self, what: str) -> str:
        lines = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        tail = "\n".join(lines[-_TAIL_LINES:]) or "(empty)"
        return f"service {self.spec.name} {what}; last lines of {self.log}:\n{tail}"

    async def stop(self) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            async with asyncio.timeout(_STOP_GRACE_S):
                await process.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
        # Anything the service left in its session, or started elsewhere, goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        if self.cage is not None:
            await asyncio.to_thread(self.cage.release)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as answer:
            return int(answer.status) < 400
    except (urllib.error.URLError, OSError, ValueError):
        return False


class ServiceEnv(dict[str, str]):
    """The services' variables for every instance, and in :attr:`by_group` those that
    only one group's instances get (they win over the shared ones)."""

    def __init__(self) -> None:
        super().__init__()
        self.by_group: dict[str, dict[str, str]] = {}
        self.named_by: dict[str, str] = {}
        """Group id → the service that gave it collectors of its own (for errors)."""


async def start_all(
    specs: tuple[ServiceSpec, ...], run_dir: Path, stack: contextlib.AsyncExitStack, host: str
) -> tuple[ServiceEnv, str]:
    """Start every service, in order; ``(env for the instances, problem)``. Each service
    is stopped when ``stack`` closes, whether it became ready or not. Fixed ports are
    checked first (:func:`check_ports`)."""
    check_ports(specs, host)
    env = ServiceEnv()
    if not specs:
        return env, ""
    # Entered before any service, so closed after every service has stopped (LIFO).
    cages = stack.enter_context(RunContainment(f"{run_dir.name}.services"))
    for spec in specs:
        if spec.kind == mocks.MOCK_COLLECTOR:
            problem = await _start_collectors(spec, run_dir, stack, host, env, cages)
            if problem:
                return env, problem
            continue
        service = RunningService(
            spec,
            host,
            spec.port or free_port(host),
            run_dir / "services" / f"{spec.name}.log",
            cage=cages.cage(spec.name),
        )
        stack.push_async_callback(service.stop)
        problem = await service.start() or await service.wait_ready()
        if problem:
            return env, problem
        env.update(service.env_vars())
    return env, ""


async def _start_collectors(
    spec: ServiceSpec, run_dir: Path, stack: contextlib.AsyncExitStack, host: str,
    env: ServiceEnv, cages: RunContainment,
) -> str:  # fmt: skip
    """Start a mock-collector's sets, each set's processes side by side; a problem when
    one cannot start or is not ready."""
    seq = 0
    for members in mocks.service_sets(spec):
        running = []
        for index in range(spec.instances):
            port = spec.port + seq if spec.port else free_port(host)
            process_spec, log = mocks.collector_spec(spec, members, index, seq, run_dir)
            cage = cages.cage(f"{process_spec.name}.{seq}")
            service = RunningService(process_spec, host, port, log, cage=cage)
            stack.push_async_callback(service.stop)
            if problem := await service.start():
                return problem
            running.append(service)
            seq += 1
        for problem in await asyncio.gather(*(s.wait_ready() for s in running)):
            if problem:
                return problem
        variables = {
            **running[0].env_vars(),
            f"{env_prefix(spec.name)}_ADDRS": ",".join(f"{s.host}:{s.port}" for s in running),
        }
        if members.group:
            env.by_group[members.group] = {**env.by_group.get(members.group, {}), **variables}
            env.named_by[members.group] = spec.name
        else:
            env.update(variables)
    return ""


def with_env(artifacts: Mapping[str, Artifact], env: Mapping[str, str]) -> dict[str, Artifact]:
    """The artifacts with the services' variables added to every instance's environment,
    and a :class:`ServiceEnv`'s group variables to that group's. InputError when a
    service names a group the run does not have."""
    by_group = env.by_group if isinstance(env, ServiceEnv) else {}
    for group in sorted(set(by_group) - set(artifacts)):
        assert isinstance(env, ServiceEnv)
        raise InputError(
            f"[[services]] {env.named_by[group]}: groups.{group}: expected the id of a group "
            f"of this run ({', '.join(artifacts)}), found {group!r}"
        )
    if not env and not by_group:
        return dict(artifacts)
    return {
        group: replace(a, env={**a.env, **env, **by_group.get(group, {})})
        for group, a in artifacts.items()
    }
