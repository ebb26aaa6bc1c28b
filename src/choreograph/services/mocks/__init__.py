"""Built-in mock services: how a ``kind = "mock-collector"`` entry becomes processes.

A mock-collector service runs ``instances`` collector processes
(:mod:`.collector`, one port each) with the service's behaviour, and as many again for
every group in ``group_mocks``, with that group's behaviour: those are that group's own,
and only its instances are told about them (:class:`ServiceSet.group`). Each process is
an ordinary service process (started, probed over TCP, stopped like any other); its log
and its metrics file live in ``services/<label>/<k>/`` of the run folder, where
``<label>`` is the service's name, or ``<name>@<group>`` for a group's collectors, which
is where ``choreograph.results`` reads them as results of group ``service:<label>``.

A set's ``protocol`` (``http`` unless the entry says ``grpc``) picks the collector's
server; gRPC needs the ``grpc`` extra, which :func:`grpc_problem` checks before a run.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from choreograph.errors import InputError
from choreograph.plan.spec import RunSpec, ServiceSpec
from choreograph.results.metrics import SERVICE_GROUP_PREFIX, SERVICE_METRICS_FILE, SERVICES_DIR
from choreograph.services.mocks.modes import MODES

MOCK_COLLECTOR = "mock-collector"
LOG_FILE = "service.log"
PROTOCOLS = ("http", "grpc")
"""What a collector speaks: OTLP/HTTP (HTTP/1.1) or OTLP/gRPC."""
GRPC_EXTRA = "pip install 'choreograph[grpc]'"


@dataclass(frozen=True)
class ServiceSet:
    """The collectors of one behaviour: the service's own (``group`` empty) or a group's."""

    label: str
    group: str
    settings: dict[str, Any]


def service_sets(spec: ServiceSpec) -> list[ServiceSet]:
    """The service's own set first, then one per group with a behaviour of its own."""
    own = ServiceSet(spec.name, "", spec.mock)
    return [own] + [ServiceSet(f"{spec.name}@{g}", g, s) for g, s in spec.group_mocks.items()]


def process_count(spec: ServiceSpec) -> int:
    """Processes (and ports) a service needs."""
    if spec.kind != MOCK_COLLECTOR:
        return 1
    return spec.instances * len(service_sets(spec))


def collector_spec(
    spec: ServiceSpec, members: ServiceSet, index: int, seq: int, run_dir: Path
) -> tuple[ServiceSpec, Path]:
    """``(spec of collector process index of the set, its log)``; ``seq`` numbers the
    service's processes, so each draws its own random sequence from one ``seed``."""
    folder = run_dir / SERVICES_DIR / members.label / str(index)
    group = SERVICE_GROUP_PREFIX + members.label
    command = (
        sys.executable, "-m", "choreograph.services.mocks.collector",
        "--host", "{host}", "--port", "{port}",
        "--metrics", str(folder / SERVICE_METRICS_FILE),
        "--run", run_dir.name, "--group", group, "--instance", f"{group}/{index}",
        *behaviour_args(members.settings, seq),
    )  # fmt: skip
    return replace(spec, command=command, ready="tcp", ready_port=0), folder / LOG_FILE


def behaviour_args(settings: dict[str, Any], seq: int = 0) -> list[str]:
    """The collector's command-line options for a behaviour as the spec holds it."""
    args = ["--mode", str(settings.get("mode", "typical"))]
    if "protocol" in settings:
        args += ["--protocol", str(settings["protocol"])]
    for key, value in settings.get("latency", {}).items():
        args += [f"--latency-{key}", str(value)]
    for key in ("error_rate", "drop_rate"):
        if key in settings:
            args += ["--" + key.replace("_", "-"), str(settings[key])]
    if "seed" in settings:
        args += ["--seed", str(int(settings["seed"]) + seq)]
    return args


def uses_grpc(spec: ServiceSpec) -> bool:
    """Whether any of a service's collectors speaks OTLP/gRPC."""
    return spec.kind == MOCK_COLLECTOR and any(
        members.settings.get("protocol") == "grpc" for members in service_sets(spec)
    )


def grpc_problem() -> str:
    """Why this host cannot serve OTLP/gRPC ("" when it can): ``grpcio`` or the
    ``opentelemetry-proto`` stubs missing, or stubs newer than ``grpcio`` (they refuse to
    load), all mended by the ``grpc`` extra."""
    try:
        importlib.import_module("grpc")
        importlib.import_module("opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc")
    except (ImportError, RuntimeError) as exc:
        return (
            f'a mock-collector with protocol = "grpc" needs grpcio and opentelemetry-proto, '
            f"which this Python ({sys.executable}) cannot load ({exc}); install them with: "
            f"{GRPC_EXTRA}"
        )
    return ""


def parse_mode_flags(pairs: Iterable[str]) -> dict[str, str]:
    """``["sat=slow_fail"]`` (``--service-mode NAME=MODE``) → ``{"sat": "slow_fail"}``; the
    last of repeated names wins. InputError for a pair without ``=``."""
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, mode = pair.partition("=")
        if not sep or not name.strip() or not mode.strip():
            raise InputError(
                f"--service-mode {pair!r}: expected NAME=MODE, e.g. --service-mode "
                f"collector=slow_fail (modes: {', '.join(MODES)})"
            )
        out[name.strip()] = mode.strip()
    return out


def with_modes(spec: RunSpec, modes: Mapping[str, str]) -> RunSpec:
    """``spec`` with the ``mode`` of each named mock-collector's own collectors replaced
    (its ``groups`` entries keep theirs), for one run without editing the composition.

    Only the mode changes: the new mode brings its own default latency and status when
    the service gives no ``latency`` of its own (defaults are filled in by
    :func:`.modes.behaviour` when a collector starts); an explicit ``latency``,
    ``error_rate``, ``drop_rate`` and ``seed`` are kept. InputError naming what exists for
    a service the run does not have, one that is not a mock-collector, or an unknown mode.
    """
    if not modes:
        return spec
    services = {s.name: s for s in spec.services}
    mocks = [s.name for s in spec.services if s.kind == MOCK_COLLECTOR]
    have = f"its mock-collectors: {', '.join(mocks)}" if mocks else "it has no mock-collector"
    for name, mode in modes.items():
        if name not in services:
            raise InputError(f"service mode {name}={mode}: the run has no service {name!r}; {have}")
        if services[name].kind != MOCK_COLLECTOR:
            raise InputError(
                f"service mode {name}={mode}: service {name!r} is a {services[name].kind}, "
                f"not a {MOCK_COLLECTOR}; {have}"
            )
        if mode not in MODES:
            raise InputError(
                f"service mode {name}={mode}: expected a mode in {', '.join(MODES)}, found {mode!r}"
            )
    changed = tuple(
        replace(s, mock={**s.mock, "mode": modes[s.name]}) if s.name in modes else s
        for s in spec.services
    )
    return replace(spec, services=changed)
