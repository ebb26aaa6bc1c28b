"""The instance's view of its run: the decoded environment, typed params, and event recorders.

Decoding is :class:`~choreograph.wire.env.RunEnvVars`' job (one place for every ``TEST_*``
variable); this module adds what a plan author reaches for: plain attributes, the
``*_param`` accessors, and ``record_*`` methods that write each event on stdout and, once a
sync client is attached, publish it on the run's ``run_events`` topic.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from choreograph.errors import InputError
from choreograph.sdk._events import EventLog
from choreograph.sdk._metrics import Metrics, flush_all
from choreograph.sdk._params import ParamReader
from choreograph.wire.env import RunEnvVars, format_start_time
from choreograph.wire.events import Event

if TYPE_CHECKING:
    from choreograph.sdk._blocking import BlockingSyncClient
    from choreograph.sdk._sync import SyncClient


class RunEnv(ParamReader):
    """Where this instance stands in its run, and how it reports what happens.

    Build it with :meth:`from_env` (``invoke`` does). Attributes: ``test_plan``,
    ``test_case``, ``test_run``, ``test_group_id``, ``test_instance_count``,
    ``test_group_instance_count``, ``group_index`` and ``global_index`` (this instance's
    place, from 0), ``test_subnet``, ``test_sidecar``, ``test_start_time``, ``params``
    (raw strings; prefer the typed ``*_param`` accessors), ``outputs_path`` and
    ``temp_path``. Every other variable is on ``vars``.
    """

    def __init__(self, env_vars: RunEnvVars) -> None:
        self.vars = env_vars
        self.test_plan = env_vars.test_plan
        self.test_case = env_vars.test_case
        self.test_run = env_vars.test_run
        self.test_group_id = env_vars.test_group_id
        self.test_instance_count = env_vars.test_instance_count
        self.test_group_instance_count = env_vars.test_group_instance_count
        self.test_instance_role = env_vars.test_instance_role
        self.group_index = env_vars.group_index
        self.global_index = env_vars.global_index
        self.test_subnet = env_vars.test_subnet
        self.test_sidecar = env_vars.test_sidecar
        self.test_start_time = env_vars.test_start_time
        self.params: dict[str, str] = dict(env_vars.test_instance_params)
        self.outputs_path = Path(env_vars.test_outputs_path)
        self.temp_path = Path(env_vars.test_temp_path)
        self._events = EventLog(env_vars.instance_key)
        self._metrics: dict[str, Metrics] = {}

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RunEnv:
        """Decode ``env`` (default: ``os.environ``). Raises :class:`InputError` naming the
        variable when one is missing or malformed."""
        try:
            return cls(RunEnvVars.from_env(os.environ if env is None else env))
        except KeyError as exc:
            raise InputError(str(exc.args[0])) from None
        except ValueError as exc:
            raise InputError(f"malformed instance environment: {exc}") from None

    @property
    def instance_key(self) -> str:
        """``<group>/<group_index>``, how Choreograph names this instance everywhere."""
        return self.vars.instance_key

    @property
    def scope(self) -> tuple[str, str, str]:
        """``(run, plan, case)``: the keyspace this run's states and topics live in."""
        return (self.test_run, self.test_plan, self.test_case)

    def attach(self, client: SyncClient | BlockingSyncClient) -> None:
        """Also publish every event recorded from now on through ``client`` (``invoke``
        attaches its own). Publishing does not block; closing the client waits for it."""
        from choreograph.sdk._blocking import BlockingSyncClient  # imports this module

        core = client.async_client if isinstance(client, BlockingSyncClient) else client
        self._events.publisher = core._submit_event

    # --- metrics ---------------------------------------------------------------

    def R(self) -> Metrics:  # sdk-go's name
        """Result metrics (``results.out``): what the test measures. See :class:`Metrics`."""
        return self._metrics_file("results.out")

    def D(self) -> Metrics:  # sdk-go's name
        """Diagnostic metrics (``diagnostics.out``): what helps explain the results."""
        return self._metrics_file("diagnostics.out")

    def _metrics_file(self, name: str) -> Metrics:
        if name not in self._metrics:
            self._metrics[name] = Metrics(
                self.outputs_path / name, self.test_run, self.test_group_id, self.instance_key
            )
        return self._metrics[name]

    def flush_metrics(self) -> None:
        """Write every buffered metric record now (``invoke`` does before the outcome)."""
        flush_all()

    # --- events ----------------------------------------------------------------

    def record_message(self, message: str) -> None:
        """Log a free-form message (a ``message_event``)."""
        self._events.record(Event("message", message=message))

    def record_start(self) -> None:
        """Announce that the test case started (``invoke`` does this)."""
        self._events.record(Event("start", runenv=self.run_params()))

    def record_success(self) -> None:
        """The outcome: success (``invoke`` records it when the test function returns None)."""
        self._events.record(Event("success", group=self.test_group_id))

    def record_failure(self, error: str | BaseException) -> None:
        """The outcome: the test ran and found a fault."""
        self._events.record(Event("failure", group=self.test_group_id, error=str(error)))

    def record_crash(self, error: str | BaseException, stacktrace: str = "") -> None:
        """The outcome: the test could not run to its end. An exception with no
        ``stacktrace`` given brings its own traceback."""
        if not stacktrace and isinstance(error, BaseException):
            stacktrace = "".join(traceback.format_exception(error))
        self._events.record(
            Event("crash", group=self.test_group_id, error=str(error), stacktrace=stacktrace)
        )

    def record_stage_start(self, name: str) -> None:
        """Mark the start of a named stage (shown on the run's timeline)."""
        self._events.record(Event("stage_start", name=name, group=self.test_group_id))

    def record_stage_end(self, name: str) -> None:
        """Mark the end of a named stage."""
        self._events.record(Event("stage_end", name=name, group=self.test_group_id))

    def run_params(self) -> dict[str, Any]:
        """The run as sdk-go's ``RunParams`` JSON spells it (the ``start_event`` body)."""
        v = self.vars
        return {
            "plan": v.test_plan,
            "case": v.test_case,
            "run": v.test_run,
            "repo": v.test_repo,
            "branch": v.test_branch,
            "tag": v.test_tag,
            "outputs_path": v.test_outputs_path,
            "instances": v.test_instance_count,
            "role": v.test_instance_role,
            "params": dict(v.test_instance_params),
            "group": v.test_group_id,
            "group_instances": v.test_group_instance_count,
            "test_sidecar": v.test_sidecar,
            "network": v.test_subnet,
            "start_time": format_start_time(v.test_start_time),
        }

    def __repr__(self) -> str:
        return (
            f"<RunEnv {self.test_plan}/{self.test_case} run={self.test_run} "
            f"instance={self.instance_key} of {self.test_instance_count}>"
        )
