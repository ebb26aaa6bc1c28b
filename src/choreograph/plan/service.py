"""``[[services]]`` in a composition: processes a run needs besides its instances.

::

    [[services]]
    name = "redis"
    command = ["redis-server", "--port", "{port}", "--save", ""]
    ready = { tcp = 0 }          # or { http = "http://127.0.0.1:{port}/health" }
                                 # or { command = ["redis-cli", "-p", "{port}", "ping"] }
    timeout = "20s"              # to become ready (seconds or a duration; default 30 s)
    port = 0                     # 0: a free port is picked; tcp = 0 probes that port
    env = { REDIS_ARGS = "" }

``{port}``, ``{host}`` and ``{name}`` in ``command``, ``env`` values and the ``ready``
probe are replaced when the service starts. A Choreograph extension: Testground has no
such table, so files that use it are not Testground compositions any more.

Choreograph's own mock collector instead of a command (readiness built in)::

    [[services]]
    name = "satellite"
    kind = "mock-collector"
    mode = "typical"             # typical | slow_succeed | slow_fail
    protocol = "http"            # http (OTLP/HTTP) | grpc (OTLP/gRPC, extra "grpc")
    latency = { distribution = "normal", mean = "1ms", stddev = "200us", min = "0.5ms" }
    error_rate = 0.01            # answered 500
    drop_rate = 0.0              # connection closed without an answer
    instances = 3                # collectors on consecutive ports from port (or free ones)
    seed = 7                     # replayable decisions
    groups = { slow-clients = "slow_fail", flaky = { mode = "typical", error_rate = 0.2 } }

A ``groups`` entry gives that group collectors of its own (``instances`` of them) that
only its instances are told about; what the entry leaves out takes its mode's defaults,
not the service's, except ``protocol`` (the group's clients export as the others do) and
``seed``. The modes' defaults are in ``choreograph.services.mocks.modes``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from choreograph.plan._toml import TomlModel, describe_value
from choreograph.plan.spec import ServiceSpec
from choreograph.wire.durations import parse_duration_ns

SERVICE_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]*$"
"""A service's name: it becomes ``CHOREO_SERVICE_<NAME>_*`` variables and a folder."""


class Ready(TomlModel):
    """``ready = { tcp = PORT } | { http = URL } | { command = [...] }``: exactly one."""

    tcp: int | None = Field(default=None, ge=0, le=65535)
    http: str = ""
    command: list[str] = []

    @model_validator(mode="after")
    def _exactly_one(self) -> Ready:
        given = [k for k, v in (("tcp", self.tcp is not None), ("http", self.http),
                                ("command", self.command)) if v]  # fmt: skip
        if len(given) != 1:
            found = ", ".join(given) or "none"
            raise ValueError(f"expected exactly one of tcp, http or command, found {found}")
        return self


Mode = Literal["typical", "slow_succeed", "slow_fail"]
Wire = Literal["http", "grpc"]
"""A mock collector's ``protocol`` (``choreograph.services.mocks.PROTOCOLS``)."""
MOCK_COLLECTOR = "mock-collector"


def _duration_s(value: Any, minimum: str = "≥ 0") -> float:
    """Seconds in a duration (``"20s"``) or a number of seconds; ValueError naming the
    value found otherwise."""
    expected = f"expected seconds {minimum} or a duration such as '20s'"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{expected}, found {describe_value(value)}")
    try:
        seconds = parse_duration_ns(value) / 1e9 if isinstance(value, str) else float(value)
    except ValueError:
        raise ValueError(f"{expected}, found {describe_value(value)}") from None
    if seconds < 0 or (seconds == 0 and minimum == "> 0"):
        raise ValueError(f"{expected}, found {describe_value(value)}")
    return seconds


class Latency(TomlModel):
    """``latency = { distribution, mean, stddev, min, max }``: durations or seconds; every
    sample is clamped to ``[min, max]``. It replaces the mode's latency as a whole."""

    distribution: Literal["constant", "uniform", "normal", "exponential"] = "constant"
    mean: Any = None
    stddev: Any = None
    min: Any = None
    max: Any = None

    @field_validator("mean", "stddev", "min", "max")
    @classmethod
    def _seconds(cls, value: Any) -> float | None:
        return None if value is None else _duration_s(value)

    @model_validator(mode="after")
    def _samplable(self) -> Latency:
        low, high = self.min or 0.0, self.max
        if high is not None and high < low:
            raise ValueError(f"expected min ≤ max, found min {low:g}s, max {high:g}s")
        if self.distribution == "uniform" and (self.min is None or high is None):
            raise ValueError("a uniform distribution needs min and max")
        if self.distribution != "uniform" and self.mean is None:
            raise ValueError(f"a {self.distribution} distribution needs a mean")
        if self.distribution == "exponential" and self.mean <= low:
            raise ValueError(f"an exponential distribution needs mean > min ({low:g}s)")
        return self

    def seconds(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class Behaviour(TomlModel):
    """A group's own collectors: ``groups.<id> = { mode, latency, error_rate, drop_rate,
    protocol }``."""

    mode: Mode = "typical"
    latency: Latency | None = None
    error_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    drop_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    protocol: Wire | None = None

    def settings(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mode": self.mode}
        if self.protocol == "grpc":  # http, the default, is left out as unwritten
            out["protocol"] = self.protocol
        if self.latency is not None:
            out["latency"] = self.latency.seconds()
        if self.error_rate:
            out["error_rate"] = self.error_rate
        if self.drop_rate:
            out["drop_rate"] = self.drop_rate
        return out


class Service(TomlModel):
    """One ``[[services]]`` entry: a ``command`` with a ``ready`` probe, or a built-in
    ``kind`` with its own settings."""

    name: str = Field(pattern=SERVICE_NAME_PATTERN)
    kind: Literal["command", "mock-collector"] = "command"
    command: list[str] = Field(default=[], validate_default=True)
    ready: Ready | None = Field(default=None, validate_default=True)
    timeout: Any = 30
    port: int = Field(default=0, ge=0, le=65535)
    env: dict[str, str] = {}
    mode: Mode | None = None
    latency: Latency | None = None
    error_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    drop_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    instances: int | None = Field(default=None, ge=1, le=256)
    seed: int | None = None
    protocol: Wire | None = None
    groups: dict[str, Behaviour] | None = None
    """``<group id> = "<mode>"`` is short for ``<group id> = { mode = "<mode>" }``."""

    @field_validator("command")
    @classmethod
    def _command(cls, value: list[str], info: ValidationInfo) -> list[str]:
        kind = info.data.get("kind")
        if kind == "command" and not value:
            raise ValueError("expected at least 1 entry, found none")
        if kind == MOCK_COLLECTOR and value:
            raise ValueError(
                f"a {MOCK_COLLECTOR} runs Choreograph's collector; expected no command"
            )
        return value

    @field_validator("ready")
    @classmethod
    def _ready(cls, value: Ready | None, info: ValidationInfo) -> Ready | None:
        kind = info.data.get("kind")
        if kind == "command" and value is None:
            raise ValueError(
                "missing required key 'ready' (a probe: { tcp = 0 }, { http = URL } or "
                "{ command = [...] })"
            )
        if kind == MOCK_COLLECTOR and value is not None:
            raise ValueError(f"a {MOCK_COLLECTOR}'s readiness is built in; expected no ready")
        return value

    @field_validator("groups", mode="before")
    @classmethod
    def _mode_alone(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {g: {"mode": e} if isinstance(e, str) else e for g, e in value.items()}

    @field_validator(
        "mode", "latency", "error_rate", "drop_rate", "instances", "seed", "protocol", "groups"
    )
    @classmethod
    def _mock_only(cls, value: Any, info: ValidationInfo) -> Any:
        if info.data.get("kind") == "command":
            raise ValueError(f"{info.field_name} is for kind = {MOCK_COLLECTOR!r} only")
        return value

    @field_validator("timeout")
    @classmethod
    def _seconds(cls, value: Any) -> float:
        return _duration_s(value, "> 0")

    def to_spec(self) -> ServiceSpec:
        if self.kind == MOCK_COLLECTOR:
            return self._mock_spec()
        ready = self.ready
        assert ready is not None  # required for commands by _ready
        kind = "tcp" if ready.tcp is not None else "http" if ready.http else "command"
        return ServiceSpec(
            name=self.name,
            command=tuple(self.command),
            ready=kind,
            ready_port=ready.tcp or 0,
            ready_url=ready.http,
            ready_command=tuple(ready.command),
            timeout_s=float(self.timeout),
            port=self.port or (ready.tcp or 0),
            env=dict(self.env),
        )

    def _mock_spec(self) -> ServiceSpec:
        own = Behaviour(
            mode=self.mode or "typical",
            latency=self.latency,
            error_rate=self.error_rate or 0.0,
            drop_rate=self.drop_rate or 0.0,
            protocol=self.protocol,
        ).settings()
        seeded = {} if self.seed is None else {"seed": self.seed}
        groups = {
            group: entry.model_copy(update={"protocol": entry.protocol or self.protocol}).settings()
            for group, entry in (self.groups or {}).items()
        }
        return ServiceSpec(
            name=self.name,
            command=(),
            ready="tcp",
            timeout_s=float(self.timeout),
            port=self.port,
            env=dict(self.env),
            kind=MOCK_COLLECTOR,
            instances=self.instances or 1,
            mock={**own, **seeded},
            group_mocks={group: {**b, **seeded} for group, b in groups.items()},
        )
