"""Every ``TEST_*`` variable an instance receives: encoded and decoded in one place.

The names and formats are Testground's (see testground-contract.md), so plans written
against sdk-go, sdk-js or the Rust crate read them unmodified. Choreograph adds a few
``CHOREO_*`` variables of its own (the instance's index in its group), which foreign
SDKs ignore.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

DEFAULT_SYNC_PORT = 5050


def encode_params(params: Mapping[str, str]) -> str:
    """``{"a": "1", "b": "x"}`` → ``"a=1|b=x"`` (sdk-js ``unpackParams`` splits on ``|``)."""
    return "|".join(f"{k}={v}" for k, v in params.items())


def decode_params(text: str) -> dict[str, str]:
    """Inverse of :func:`encode_params`; a pair without ``=`` maps to the empty string."""
    out: dict[str, str] = {}
    for pair in text.split("|"):
        if not pair:
            continue
        key, _, value = pair.partition("=")
        out[key] = value
    return out


def format_start_time(moment: datetime) -> str:
    """RFC 3339 in UTC with a ``Z`` suffix, the form Go's ``time.RFC3339`` parses."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_start_time(text: str) -> datetime:
    """Accept RFC 3339 with or without fractional seconds, ``Z`` or an offset."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _bool(text: str | None) -> bool:
    return (text or "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class RunEnvVars:
    """The decoded runtime environment of one instance."""

    test_plan: str
    test_case: str
    test_run: str
    test_instance_count: int
    test_group_id: str
    test_group_instance_count: int
    test_outputs_path: str
    test_temp_path: str
    test_subnet: str
    test_start_time: datetime
    sync_service_host: str
    sync_service_port: int = DEFAULT_SYNC_PORT
    test_instance_params: dict[str, str] = field(default_factory=dict)
    test_instance_role: str = ""
    test_repo: str = ""
    test_branch: str = ""
    test_tag: str = ""
    test_sidecar: bool = False
    test_hostname: str = ""
    test_capture_profiles: str = ""
    test_disable_metrics: bool = False
    influxdb_url: str = ""
    # Choreograph's own additions: the instance's place in its group and in the run.
    group_index: int = 0
    global_index: int = 0

    @property
    def instance_key(self) -> str:
        """``<group>/<index>``: how Choreograph names one instance everywhere."""
        return f"{self.test_group_id}/{self.group_index}"

    def to_env(self) -> dict[str, str]:
        """The variables to hand to the instance process (strings only)."""
        env = {
            "TEST_PLAN": self.test_plan,
            "TEST_CASE": self.test_case,
            "TEST_RUN": self.test_run,
            "TEST_REPO": self.test_repo,
            "TEST_BRANCH": self.test_branch,
            "TEST_TAG": self.test_tag,
            "TEST_INSTANCE_COUNT": str(self.test_instance_count),
            "TEST_INSTANCE_ROLE": self.test_instance_role,
            "TEST_INSTANCE_PARAMS": encode_params(self.test_instance_params),
            "TEST_GROUP_ID": self.test_group_id,
            "TEST_GROUP_INSTANCE_COUNT": str(self.test_group_instance_count),
            "TEST_OUTPUTS_PATH": self.test_outputs_path,
            "TEST_TEMP_PATH": self.test_temp_path,
            "TEST_SIDECAR": "true" if self.test_sidecar else "false",
            "TEST_SUBNET": self.test_subnet,
            "TEST_START_TIME": format_start_time(self.test_start_time),
            "TEST_CAPTURE_PROFILES": self.test_capture_profiles,
            "TEST_DISABLE_METRICS": "true" if self.test_disable_metrics else "false",
            "SYNC_SERVICE_HOST": self.sync_service_host,
            "SYNC_SERVICE_PORT": str(self.sync_service_port),
            "CHOREO_GROUP_INDEX": str(self.group_index),
            "CHOREO_GLOBAL_INDEX": str(self.global_index),
        }
        if self.test_hostname:
            env["HOSTNAME"] = self.test_hostname
        if self.influxdb_url:
            env["INFLUXDB_URL"] = self.influxdb_url
        return env

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RunEnvVars:
        """Decode; a missing required variable raises ``KeyError`` naming it."""

        def need(name: str) -> str:
            try:
                return env[name]
            except KeyError:
                raise KeyError(
                    f"{name} is not set: this process was not started by a Choreograph "
                    "or Testground runner"
                ) from None

        start = env.get("TEST_START_TIME")
        return cls(
            test_plan=need("TEST_PLAN"),
            test_case=need("TEST_CASE"),
            test_run=need("TEST_RUN"),
            test_instance_count=int(need("TEST_INSTANCE_COUNT")),
            test_group_id=env.get("TEST_GROUP_ID", "single"),
            test_group_instance_count=int(
                env.get("TEST_GROUP_INSTANCE_COUNT") or need("TEST_INSTANCE_COUNT")
            ),
            test_outputs_path=env.get("TEST_OUTPUTS_PATH", ""),
            test_temp_path=env.get("TEST_TEMP_PATH", ""),
            test_subnet=env.get("TEST_SUBNET", ""),
            test_start_time=parse_start_time(start) if start else datetime.now(UTC),
            sync_service_host=env.get("SYNC_SERVICE_HOST", "127.0.0.1"),
            sync_service_port=int(env.get("SYNC_SERVICE_PORT") or DEFAULT_SYNC_PORT),
            test_instance_params=decode_params(env.get("TEST_INSTANCE_PARAMS", "")),
            test_instance_role=env.get("TEST_INSTANCE_ROLE", ""),
            test_repo=env.get("TEST_REPO", ""),
            test_branch=env.get("TEST_BRANCH", ""),
            test_tag=env.get("TEST_TAG", ""),
            test_sidecar=_bool(env.get("TEST_SIDECAR")),
            test_hostname=env.get("HOSTNAME", ""),
            test_capture_profiles=env.get("TEST_CAPTURE_PROFILES", ""),
            test_disable_metrics=_bool(env.get("TEST_DISABLE_METRICS")),
            influxdb_url=env.get("INFLUXDB_URL", ""),
            group_index=int(env.get("CHOREO_GROUP_INDEX") or 0),
            global_index=int(env.get("CHOREO_GLOBAL_INDEX") or 0),
        )
