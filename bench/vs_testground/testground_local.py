"""Testground v0.5.3's daemon with its local:exec runner, set up on a host with no registry.

What Testground's local:exec runner needs, and how this module provides it:

* Before every run the runner's healthcheck wants the Docker containers ``testground-redis``,
  ``testground-grafana`` and ``testground-influxdb`` running (and pulls images from Docker Hub
  to start them). No registry is reachable here, so the benchmark imports a FROM-scratch image
  holding only the load generator binary and starts the three containers from it: two idle
  ones, and ``testground-influxdb`` serving an InfluxDB write endpoint on port 8086 that
  accepts every batch (the SDK sends its diagnostics there; a closed port would make every
  instance retry). The ``testground-control`` network it checks for is made here too, on
  Testground's 192.18.0.0/16 or, when another network holds that range, wherever docker
  puts it (local:exec's instances never use it).
* v0.5.3's runner does not start the sync service, nor tell instances where it is; the
  SDK the plans use (sdk-go 2021) then dials ``testground-sync-service:5050``. The benchmark
  runs testground/sync-service v0.1.0 on the host's port 5050 and starts the daemon in a
  private mount namespace whose ``/etc/hosts`` maps that name to 127.0.0.1; the daemon's
  instances inherit it, nothing of the host changes.
* v0.5.3's runner reads sdk-go v0.2's events; sdk-go v0.3's (``success_event``…) are shown
  as INCOMPLETE and the run ends with "N nodes failed". Such a run counts as complete when
  every instance's ``run.out`` holds its ``success_event`` (checked here, every run).

Everything made here (containers, image, a network it did not find, the daemon and the
service with their process groups, the home) is removed by :meth:`TestgroundLocal.close`.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import tarfile
import time
from pathlib import Path

from .cpu import DaemonCpu, Measured
from .processes import Processes, free_port, port_in_use, wait_listening

CONTAINERS = {
    "testground-redis": ["idle"],
    "testground-grafana": ["idle"],
    "testground-influxdb": ["influx", "-listen", ":8086"],
}
NETWORK = "testground-control"


class TestgroundUnavailable(Exception):
    """Testground's runs cannot be made on this host; the message says exactly why."""


def _docker(*args: str, stdin: bytes | None = None) -> str:
    try:
        proc = subprocess.run(["docker", *args], input=stdin, capture_output=True, timeout=120)
    except FileNotFoundError as e:
        raise TestgroundUnavailable("no `docker` on PATH (local:exec's healthcheck uses it)") from e
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip()
        raise TestgroundUnavailable(f"`docker {' '.join(args[:3])}` failed: {err}")
    return proc.stdout.decode(errors="replace").strip()


class TestgroundLocal:
    def __init__(
        self,
        procs: Processes,
        testground: Path,
        sync_service: Path,
        loadgen: Path,
        work: Path,
    ) -> None:
        self.procs = procs
        self.testground = testground
        self.sync_service = sync_service
        self.loadgen = loadgen
        self.work = work
        self.home = work / "testground-home"
        self.env = dict(os.environ, TESTGROUND_HOME=str(self.home))
        self.image = f"choreograph-bench/testground-stub:{os.getpid()}"
        self._containers: list[str] = []
        self._image_made = False
        self._network_made = False
        self._daemon: subprocess.Popen[bytes] | None = None
        self._service: subprocess.Popen[bytes] | None = None
        self.wait_flag: list[str] = []

    # -- set-up ----------------------------------------------------------------------------

    def open(self) -> None:
        _docker("info", "--format", "{{.ServerVersion}}")
        for name in CONTAINERS:
            if _docker("ps", "-aq", "--filter", f"name=^{name}$"):
                raise TestgroundUnavailable(f"a container named {name} exists already (not ours)")
        for port, why in ((5050, "sync service"), (8086, "InfluxDB stand-in")):
            if port_in_use(port):
                raise TestgroundUnavailable(f"port {port} (Testground's {why}) is taken")
        if not _docker("network", "ls", "-q", "--filter", f"name=^{NETWORK}$"):
            self._make_network()

        tar = io.BytesIO()
        with tarfile.open(fileobj=tar, mode="w") as archive:
            archive.add(self.loadgen, arcname="loadgen")
        _docker("import", "-c", 'ENTRYPOINT ["/loadgen"]', "-", self.image, stdin=tar.getvalue())
        self._image_made = True
        for name, command in CONTAINERS.items():
            ports = ["-p", "8086:8086"] if "influx" in command else []
            _docker("run", "-d", "--name", name, *ports, self.image, *command)
            self._containers.append(name)

        logs = self.work / "logs"
        self._service = self.procs.start([str(self.sync_service)], logs / "tg-sync-service.log")
        wait_listening(5050, self._service)

        port = free_port()
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / ".env.toml").write_text(
            f'[daemon]\nlisten = "localhost:{port}"\n\n[client]\nendpoint = "http://localhost:{port}"\n'
        )
        hosts = self.work / "hosts"
        hosts.write_text(Path("/etc/hosts").read_text() + "\n127.0.0.1 testground-sync-service\n")
        script = 'mount --bind "$0" /etc/hosts && exec "$@"'
        argv = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script]
        argv += [str(hosts), str(self.testground), "daemon"]
        log = logs / "tg-daemon.log"
        self._daemon = self.procs.start(argv, log, env=self.env)
        try:
            wait_listening(port, self._daemon)
        except RuntimeError as e:
            tail = log.read_text(errors="replace").strip().splitlines()[-3:]
            raise TestgroundUnavailable(f"`testground daemon` did not start: {e}: {tail}") from e
        usage = self._cli("run", "single", "--help").stdout
        self.wait_flag = ["--wait"] if "--wait" in usage else []

    def _make_network(self) -> None:
        """The control network the healthcheck wants (local:exec's instances never use it).

        Testground's own fix creates it on 192.18.0.0/16 and gives up when another network
        overlaps that range; then any free range docker picks does as well.
        """
        try:
            _docker("network", "create", "--subnet", "192.18.0.0/16", NETWORK)
        except TestgroundUnavailable:
            _docker("network", "create", NETWORK)
        self._network_made = True

    def close(self) -> None:
        for proc in (self._daemon, self._service):
            if proc is not None:
                self.procs.stop(proc)
        for name in self._containers:
            _quiet("rm", "-f", name)
        if self._network_made:
            _quiet("network", "rm", NETWORK)
        if self._image_made:
            _quiet("rmi", "-f", self.image)

    # -- commands --------------------------------------------------------------------------

    def _cli(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.testground), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def import_plan(self, plan: Path) -> None:
        proc = self._cli("plan", "import", "--from", str(plan), "--name", "placebo")
        if proc.returncode != 0:
            raise TestgroundUnavailable(f"`testground plan import` failed: {_tail(proc)}")

    def build(self) -> tuple[str, float]:
        """The artifact of ``placebo`` built by exec:go, and how long the build took."""
        started = time.perf_counter()
        argv = ["build", "single", "--plan", "placebo", "--builder", "exec:go"]
        proc = self._cli(*argv, timeout=1800)
        elapsed = time.perf_counter() - started
        found = re.search(r'generated build artifact.*"artifact": "([^"]+)"', proc.stdout)
        if proc.returncode != 0 or found is None:
            raise TestgroundUnavailable(f"`testground build single` failed: {_tail(proc)}")
        return found.group(1), elapsed

    def run(self, artifact: str, instances: int) -> Measured:
        """Wall time and CPU split of ``testground run single`` of placebo/ok; raises if it
        did not complete."""
        argv = ["run", "single", "--plan", "placebo", "--testcase", "ok", "--builder", "exec:go"]
        argv += ["--runner", "local:exec", "-i", str(instances), "--use-build", artifact]
        assert self._daemon is not None and self._service is not None
        cpu = DaemonCpu(self._daemon.pid, self._service.pid)
        before = cpu.snapshot()
        started = time.perf_counter()
        proc = self._cli(*argv, *self.wait_flag, timeout=1800)
        elapsed = time.perf_counter() - started
        measured = DaemonCpu.split(before, cpu.snapshot(), elapsed)
        if proc.returncode == 0:
            return measured
        found = re.search(r'"run_id": "([0-9a-z]+)"', proc.stdout)
        if f"{instances} nodes failed" in proc.stdout and found is not None:
            outputs = self.home / "data" / "outputs" / "local_exec" / "placebo" / found.group(1)
            done = sum(
                1 for out in outputs.glob("single/*/run.out") if "success_event" in out.read_text()
            )
            if done == instances:
                return measured  # sdk-go v0.3 events that v0.5.3 cannot read; see the docstring
            raise RuntimeError(f"testground run of {instances}: {done} success_event(s) found")
        raise RuntimeError(f"testground run of {instances} failed: {_tail(proc)}")


def _quiet(*args: str) -> None:
    subprocess.run(["docker", *args], capture_output=True, timeout=120, check=False)


def _tail(proc: subprocess.CompletedProcess[str], lines: int = 6) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", (proc.stdout or "") + (proc.stderr or ""))
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:] if line.strip())
