"""Can this host run this spec? One clear answer before anything is built or started.

Testground plans often enable only Docker or cluster builders and runners. Choreograph
runs their work with its exec builders and local runners; when a plan names only ids
Choreograph lacks, the error lists what the plan enables, what Choreograph has, and
the exact flags that would run the plan here.

Build and run settings (``[builders."<id>"]``, ``build_config``, ``[runners."<id>"]``,
``run_config``) are checked here too, so that none is ignored silently: every builder
and runner declares the keys it reads (its ``config_keys``), and a key it does not read
is an error located where it was written, with the keys it does read. Settings of
Testground's Docker and cluster backends (image, proxy, container and pod options)
mean nothing to the exec builders and local runners that do the same work here; they
are accepted with a warning, so Testground compositions run unmodified.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from choreograph import plugins
from choreograph.errors import HostError, InputError, Issue, PlanError
from choreograph.plan._toml import KeyPath, TomlLocator, format_field
from choreograph.plan.spec import GroupSpec, RunSpec
from choreograph.workspace import MANIFEST

# Testground ids → the Choreograph id that does the same work on this host.
EQUIVALENT: dict[str, str] = {
    "docker:node": "exec:node",
    "docker:go": "exec:go",
    "docker:generic": "exec:generic",
    "docker:python": "exec:python",
    "local:docker": "local:exec",
    "cluster:k8s": "local:exec",
    "cluster:swarm": "local:exec",
}

# Keys of Testground's docker:go (pkg/build/docker_go.go; go_version from its older
# releases) that only shape the Docker image or its build; its module settings (path,
# modfile, enable_cgo) are honoured by exec:go instead.
_DOCKER_GO = frozenset(
    {
        "go_version",
        "go_proxy_mode",
        "go_proxy_url",
        "build_base_image",
        "runtime_image",
        "skip_runtime_image",
        "enable_go_build_cache",
        "dockerfile_extensions",
    }
)
# Keys of local:docker, cluster:k8s and cluster:swarm (pkg/runner/): containers, pods,
# the Docker endpoint.
_CONTAINER_RUNNERS = frozenset(
    {
        "keep_containers",
        "log_level",
        "no_start",
        "background",
        "ulimits",
        "exposed_ports",
        "outcomes_collection_timeout",
        "additional_hosts",
        "keep_service",
        "provider",
        "autoscaler_enabled",
        "testplan_pod_memory",
        "testplan_pod_cpu",
        "collect_outputs_pod_memory",
        "collect_outputs_pod_cpu",
        "run_timeout_min",
        "sysctls",
        "docker_endpoint",
        "docker_tls",
        "docker_tls_ca_cert_path",
        "docker_tls_cert_path",
        "docker_tls_key_path",
    }
)
TESTGROUND_ONLY: dict[str, frozenset[str]] = {
    "exec:go": _DOCKER_GO,
    "exec:node": frozenset({"base_image"}),  # docker:node
    "exec:generic": frozenset({"path", "build_args"}),  # docker:generic: the Dockerfile's
    # Not local:netns yet: its own config parser still rejects every key it does not read.
    "local:exec": _CONTAINER_RUNNERS,
}
"""Per Choreograph id: Testground settings it accepts with a warning and does without."""


def _suggest(wanted: list[str], enabled: tuple[str, ...], available: dict[str, str]) -> str:
    for candidate in (*wanted, *enabled):
        if candidate in available:
            return candidate
        if EQUIVALENT.get(candidate) in available:
            return EQUIVALENT[candidate]
    return sorted(available)[0]


def check_available(spec: RunSpec) -> None:
    """Raise InputError naming every unavailable builder/runner and the flags to use,
    then PlanError for settings they do not read (:func:`check_config_keys`)."""
    builders = sorted({g.builder for g in spec.groups})
    missing_builders = [b for b in builders if b not in plugins.BUILDERS]
    missing_runner = spec.runner not in plugins.RUNNERS
    if not missing_builders and not missing_runner:
        _check_images(spec)
        _check_docker(spec, builders)
        _check_grpc(spec)
        check_config_keys(spec)
        return
    lines = []
    if missing_builders:
        lines.append(f"builder {', '.join(missing_builders)} is not available in Choreograph")
    if missing_runner:
        lines.append(f"runner {spec.runner} is not available in Choreograph")
    enabled_b = ", ".join(spec.enabled_builders) or "none"
    enabled_r = ", ".join(spec.enabled_runners) or "none"
    lines.append(f"plan {spec.plan!r} enables builders: {enabled_b}; runners: {enabled_r}")
    lines.append(
        f"Choreograph can build with: {', '.join(sorted(plugins.BUILDERS))}; "
        f"run on: {', '.join(sorted(plugins.RUNNERS))}"
    )
    builder = _suggest(missing_builders or builders, spec.enabled_builders, plugins.BUILDERS)
    runner = _suggest([spec.runner], spec.enabled_runners, plugins.RUNNERS)
    lines.append(f"run it here with: --builder {builder} --runner {runner}")
    raise InputError("\n  ".join(lines))


IMAGE_RUNNERS = frozenset({"local:docker", "cluster:k8s"})
"""Runners that start each instance from an image, which only ``docker:*`` builds make."""


def _check_images(spec: RunSpec) -> None:
    """Refuse, before anything is built, groups an image runner cannot start: built by an
    exec builder (no image) and not given one with ``--use-build`` — as Testground refuses
    an incompatible builder and runner — saying which builder to use."""
    if spec.runner not in IMAGE_RUNNERS:
        return
    lacking = sorted(
        {g.builder for g in spec.groups if not g.artifact and not g.builder.startswith("docker:")}
    )
    if not lacking:
        return
    raise InputError(
        f"runner {spec.runner} starts each instance from an image, and builder "
        f"{', '.join(lacking)} makes none: build with --builder "
        f"docker:{lacking[0].partition(':')[2]} or pass --use-build IMAGE"
    )


DOCKER_IDS = frozenset(
    {"docker:go", "docker:node", "docker:generic", "docker:python", "local:docker"}
)


def _check_docker(spec: RunSpec, builders: list[str]) -> None:
    """A run that needs Docker, on a host where the engine does not answer: HostError with
    how to start it and the ids the manifest also enables that need no Docker."""
    used = [b for b in builders if b in DOCKER_IDS]
    used += [spec.runner] if spec.runner in DOCKER_IDS else []
    if not used:
        return
    from choreograph.containers import client

    problems = client.problems()
    if not problems:
        return
    builder = _without_docker(builders, spec.enabled_builders, plugins.BUILDERS)
    runner = _without_docker([spec.runner], spec.enabled_runners, plugins.RUNNERS)
    raise HostError(
        f"{' and '.join(used)} need Docker: {'; '.join(problems)}\n"
        f"  or run without Docker: --builder {builder} --runner {runner}"
    )


def _check_grpc(spec: RunSpec) -> None:
    """A mock-collector speaking OTLP/gRPC on a host without the ``grpc`` extra: HostError
    naming the services and how to install it, rather than a collector that does not start."""
    from choreograph.services import mocks

    needing = [s.name for s in spec.services if mocks.uses_grpc(s)]
    if needing and (problem := mocks.grpc_problem()):
        raise HostError(f"[[services]] {', '.join(needing)}: {problem}")


def _without_docker(wanted: list[str], enabled: tuple[str, ...], available: dict[str, str]) -> str:
    for candidate in (*enabled, *wanted):
        if candidate in available and candidate not in DOCKER_IDS:
            return candidate
    for candidate in (*wanted, *enabled):
        if EQUIVALENT.get(candidate) in available:
            return EQUIVALENT[candidate]
    return sorted(set(available) - DOCKER_IDS)[0]


def config_keys(registry: dict[str, str], plugin_id: str) -> tuple[str, ...]:
    """The settings the builder or runner registered as ``plugin_id`` reads."""
    keys: tuple[str, ...] = plugins.load(registry, plugin_id).config_keys
    return keys


def check_config_keys(spec: RunSpec) -> RunSpec:
    """``spec`` with a warning for each Testground-only setting (:data:`TESTGROUND_ONLY`);
    a PlanError naming every other setting its builders or runner do not read, each at
    the file and line that set it. Ids Choreograph lacks are left to
    :func:`check_available`, and groups with a prebuilt artifact are not built."""
    files = _PlanFiles(spec)
    built = [g for g in spec.groups if not g.artifact and g.builder in plugins.BUILDERS]
    reads = {b: config_keys(plugins.BUILDERS, b) for b in {g.builder for g in built}}
    issues: list[Issue] = []
    warnings: list[Issue] = []

    def unread(plugin_id: str, kind: str, key: str, file: _TomlFile, path: KeyPath) -> None:
        who = f"{kind} {plugin_id}"
        if key in TESTGROUND_ONLY.get(plugin_id, ()):
            problem = (
                f"{key!r} is a setting of Testground's Docker and cluster backends; "
                f"{who} does the same work without it, so it is ignored"
            )
            warnings.append(file.issue(path, problem))
        else:
            listed = ", ".join(reads[plugin_id]) or "none"
            issues.append(file.issue(path, f"{who} does not read {key!r}; it reads: {listed}"))

    for group in built:
        for key in group.build_config:
            if key in reads[group.builder]:
                continue
            file, path = files.build_setting(group, key)
            if path[:2] == ("global", "build_config") and any(
                key in reads[other.builder] for other in built
            ):
                continue  # a run-wide setting, read by the groups whose builder knows it
            unread(group.builder, "builder", key, file, path)
    if spec.run_config and spec.runner in plugins.RUNNERS:
        reads[spec.runner] = config_keys(plugins.RUNNERS, spec.runner)
        for key in spec.run_config:
            if key not in reads[spec.runner]:
                unread(spec.runner, "runner", key, *files.run_setting(spec.runner, key))
    if issues:
        raise PlanError(list(dict.fromkeys(issues)))
    added = tuple(str(w) for w in warnings)
    return replace(spec, warnings=tuple(dict.fromkeys(spec.warnings + added))) if added else spec


@dataclass
class _TomlFile:
    """One plan file read again, to say where a key was written."""

    source: str
    data: dict[str, Any] = field(default_factory=dict)
    locator: TomlLocator | None = None

    @classmethod
    def read(cls, path: Path) -> _TomlFile:
        try:
            text = path.read_text(encoding="utf-8")
            return cls(str(path), tomllib.loads(text), TomlLocator(text))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            return cls(str(path))  # loaded fine moments ago; without it, no line to give

    def has(self, path: KeyPath) -> bool:
        node: Any = self.data
        for part in path:
            try:
                node = node[part]  # a str on a list, an int on a table: TypeError, KeyError
            except (KeyError, IndexError, TypeError):
                return False
        return True

    def issue(self, path: KeyPath, problem: str) -> Issue:
        line = self.locator.line(path) if self.locator else None
        return Issue(self.source, format_field(path), problem, line)


class _PlanFiles:
    """Where the manifest and composition set each setting. A RunSpec keeps only the
    merged values, so the files are read again, and only when a key needs placing."""

    def __init__(self, spec: RunSpec) -> None:
        self.spec = spec

    @cached_property
    def manifest(self) -> _TomlFile:
        return _TomlFile.read(self.spec.plan_dir / MANIFEST)

    @cached_property
    def composition(self) -> _TomlFile | None:
        path = self.spec.composition_file
        return _TomlFile.read(Path(path)) if path else None

    def build_setting(self, group: GroupSpec, key: str) -> tuple[_TomlFile, KeyPath]:
        """Highest precedence first: ``[groups.build_config]``, ``[global.build_config]``,
        the manifest's ``[builders."<id>"]`` (see plan/resolve.py)."""
        places: list[tuple[_TomlFile | None, KeyPath]] = []
        index = self._group_index(group.id)
        if index is not None:
            places.append((self.composition, ("groups", index, "build_config", key)))
        places.append((self.composition, ("global", "build_config", key)))
        places.append((self.manifest, ("builders", group.builder, key)))
        return self._first(places, ("build_config", key))

    def run_setting(self, runner: str, key: str) -> tuple[_TomlFile, KeyPath]:
        places: list[tuple[_TomlFile | None, KeyPath]] = [
            (self.composition, ("global", "run_config", key)),
            (self.manifest, ("runners", runner, key)),
        ]
        return self._first(places, ("run_config", key))

    def _first(
        self, places: list[tuple[_TomlFile | None, KeyPath]], fallback: KeyPath
    ) -> tuple[_TomlFile, KeyPath]:
        for file, path in places:
            if file is not None and file.has(path):
                return file, path
        return (self.composition or self.manifest), fallback

    def _group_index(self, group_id: str) -> int | None:
        """The ``[[groups]]`` entry a group of this run is built from: a ``[[runs.groups]]``
        entry may name one by ``group_id`` under another id."""
        data = self.composition.data if self.composition else {}
        for run in data.get("runs", []):
            if isinstance(run, dict) and run.get("id") == self.spec.composition_run:
                for entry in run.get("groups", []):
                    if isinstance(entry, dict) and entry.get("id") == group_id:
                        group_id = entry.get("group_id") or group_id
        groups = data.get("groups", [])
        return next(
            (i for i, g in enumerate(groups) if isinstance(g, dict) and g.get("id") == group_id),
            None,
        )
