"""Hand-off records between plan resolution, builders, runners and results.

These are the resolved values (``*Spec``): every default applied, every param checked.
Builders, runners and results never import each other; they meet here. Plain frozen
dataclasses, so they cost nothing to import and are trivially JSON-able (``run.json``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Dependency:
    """A per-group override of one dependency of the plan (``[groups.build] dependencies``)."""

    module: str
    version: str = ""
    target: str = ""
    path: str = ""


@dataclass(frozen=True)
class GroupSpec:
    """One group of a run, resolved."""

    id: str
    instances: int
    params: dict[str, str]
    """Test params as strings, exactly as they go into ``TEST_INSTANCE_PARAMS``."""
    builder: str
    build_config: dict[str, Any] = field(default_factory=dict)
    dependencies: tuple[Dependency, ...] = ()
    selectors: tuple[str, ...] = ()
    artifact: str = ""
    """A prebuilt artifact id; when set, the group is not built."""
    resources: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ServiceSpec:
    """A supporting service of a run (``[[services]]``): started before the instances,
    ready-checked, stopped at the end. ``{port}``/``{host}``/``{name}`` in ``command``,
    ``env`` and the probe are filled in when it starts."""

    name: str
    command: tuple[str, ...]
    ready: str
    """``tcp``, ``http`` or ``command``."""
    ready_port: int = 0
    """For ``tcp``: the port to connect to; 0: the service's ``port``."""
    ready_url: str = ""
    ready_command: tuple[str, ...] = ()
    timeout_s: float = 30.0
    port: int = 0
    """The port instances are told; 0: a free one is picked at start. With several
    processes (``instances``, ``group_mocks``) the first of consecutive ports."""
    env: dict[str, str] = field(default_factory=dict)
    kind: str = "command"
    """``command`` (runs ``command``) or ``mock-collector`` (Choreograph's own collector,
    readiness built in: ``command`` and the probe are filled in when it starts)."""
    instances: int = 1
    """Collector processes a ``mock-collector`` runs side by side, one port each."""
    mock: dict[str, Any] = field(default_factory=dict)
    """A ``mock-collector``'s behaviour as written (``mode``, ``latency`` in seconds,
    ``error_rate``, ``drop_rate``, ``seed``, ``protocol`` when it is ``grpc``); the mode's
    defaults fill the rest."""
    group_mocks: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Group id → the behaviour of collectors of that group's own, seen by it alone."""


@dataclass(frozen=True)
class RunSpec:
    """Everything needed to start one run, and what ``run.json`` records of its inputs."""

    plan: str
    plan_dir: Path
    case: str
    runner: str
    groups: tuple[GroupSpec, ...]
    run_config: dict[str, Any] = field(default_factory=dict)
    composition_file: str = ""
    enabled_builders: tuple[str, ...] = ()
    enabled_runners: tuple[str, ...] = ()
    """What the plan's manifest enables, for errors that suggest what to run instead."""
    warnings: tuple[str, ...] = ()
    """Things resolution accepted but the user should see (undeclared params, …)."""
    disable_metrics: bool = False
    composition_run: str = ""
    """The composition's ``[[runs]]`` id (``default`` without ``[[runs]]``); "" for single runs."""
    concurrent_builds: int = 0
    """``[global] concurrent_builds``: at most this many builds at once; 0: engine decides."""
    services: tuple[ServiceSpec, ...] = ()
    """``[[services]]``, in the order they start."""

    @property
    def total_instances(self) -> int:
        return sum(g.instances for g in self.groups)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["plan_dir"] = str(self.plan_dir)
        out["total_instances"] = self.total_instances
        return out


@dataclass(frozen=True)
class BuildRequest:
    """What one builder is asked to build: one plan, one distinct build configuration."""

    plan: str
    plan_dir: Path
    builder: str
    groups: tuple[str, ...]
    config: dict[str, Any] = field(default_factory=dict)
    dependencies: tuple[Dependency, ...] = ()
    selectors: tuple[str, ...] = ()


@dataclass(frozen=True)
class Artifact:
    """How to start one instance of a built plan: a command, where, with which extra env."""

    builder: str
    build_id: str
    argv: tuple[str, ...]
    cwd: str
    """Working folder of every instance; empty: each instance's own temp folder."""
    env: dict[str, str] = field(default_factory=dict)
    from_cache: bool = False
    provenance: dict[str, Any] = field(default_factory=dict)
    sync_alias: str = ""
    """``HOST:PORT`` the plan's SDK dials whatever ``SYNC_SERVICE_*`` say (Testground's
    Rust SDK: ``testground-sync-service:5050``); the runner makes that address work."""
    launcher: str = "exec"
    """``exec`` (fork+exec per instance) or ``python-fork`` (argv is ``python script``:
    a runner may fork instances from a preloaded interpreter instead)."""
    image: str = ""
    """A container image (``docker:*`` builders, ``--use-build IMAGE``): a container runner
    starts it with its own entrypoint, or with ``argv`` as its command when given."""

    @property
    def reference(self) -> str:
        """What a later run names to reuse this build: the image, else the build id
        (``--use-build``; Testground's ``generated build artifact``)."""
        return self.image or self.build_id
