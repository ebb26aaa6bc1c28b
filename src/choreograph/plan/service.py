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
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from choreograph.plan._toml import TomlModel, describe_value
from choreograph.plan.spec import ServiceSpec
from choreograph.wire.durations import parse_duration_ns


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


class Service(TomlModel):
    """One ``[[services]]`` entry."""

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]*$")
    command: list[str] = Field(min_length=1)
    ready: Ready
    timeout: Any = 30
    port: int = Field(default=0, ge=0, le=65535)
    env: dict[str, str] = {}

    @field_validator("timeout")
    @classmethod
    def _seconds(cls, value: Any) -> float:
        expected = "expected seconds > 0 or a duration such as '20s'"
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError(f"{expected}, found {describe_value(value)}")
        try:
            seconds = parse_duration_ns(value) / 1e9 if isinstance(value, str) else float(value)
        except ValueError:
            raise ValueError(f"{expected}, found {describe_value(value)}") from None
        if seconds <= 0:
            raise ValueError(f"{expected}, found {describe_value(value)}")
        return seconds

    def to_spec(self) -> ServiceSpec:
        ready = self.ready
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
