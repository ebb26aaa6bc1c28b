"""The ``[runners."local:docker"]`` settings, checked: every key Testground's local:docker
reads is honoured or refused with why (see :mod:`choreograph.runners.local_docker`)."""

from __future__ import annotations

import resource
from collections.abc import Mapping
from typing import Any

from choreograph.containers import instances
from choreograph.durations import parse_duration
from choreograph.errors import InputError
from choreograph.plan.ports import exposed_ports
from choreograph.plan.spec import RunSpec
from choreograph.runners.local_netns import checked_mtu
from choreograph.runners.resources import sample_interval

WHERE = '[runners."local:docker"]'
CONFIG_KEYS = (
    "keep_containers",
    "log_level",
    "ulimits",
    "exposed_ports",
    "additional_hosts",
    "outcomes_collection_timeout",
    "no_start",
    "background",
    "subnet",
    "mtu",
    "shaping",
    "sample_interval",
    "start_concurrency",
)
TESTGROUND_NOFILE = 1048576


def instance_limits(resources: Mapping[str, str]) -> dict[str, Any]:
    where = "[groups.resources]"
    out: dict[str, Any] = {}
    if resources.get("memory"):
        out["memory"] = instances.memory_bytes(resources["memory"], where)
    if resources.get("cpu"):
        out["cpus"] = instances.cpus(resources["cpu"], where)
    return out


def parse_config(spec: RunSpec) -> dict[str, Any]:
    """The run config, checked: every Testground key is honoured or refused with why."""
    run_config = spec.run_config
    unknown = sorted(set(run_config) - set(CONFIG_KEYS))
    if unknown:
        raise InputError(f"{WHERE}: unknown setting {unknown[0]!r}; expected {CONFIG_KEYS}")
    mtu = checked_mtu(run_config, WHERE)
    concurrency = run_config.get("start_concurrency", 8)
    if not isinstance(concurrency, int) or concurrency < 1:
        raise InputError(f"{WHERE} start_concurrency = {concurrency!r}: expected a number ≥ 1")
    if run_config.get("background"):
        raise InputError(
            f"{WHERE} background = true: Choreograph always collects each container's output "
            "as it runs (the run folder has it); remove the setting"
        )
    return {
        "keep_containers": _flag(run_config, "keep_containers"),
        "no_start": _flag(run_config, "no_start"),
        "log_level": str(run_config.get("log_level", "") or ""),
        "ulimits": tuple(
            instances.ulimit_arg(u, f"{WHERE} ulimits")
            for u in _strings(run_config, "ulimits", default_ulimits())
        ),
        "exposed_ports": exposed_ports(run_config.get("exposed_ports", {}), WHERE),
        "additional_hosts": list(_strings(run_config, "additional_hosts", ())),
        "outcomes_collection_timeout": _duration(
            run_config.get("outcomes_collection_timeout", "45s")
        ),
        "subnet": run_config.get("subnet") or None,
        "mtu": mtu,
        "shaping": str(run_config.get("shaping", "userspace")),
        "sample_interval": sample_interval(run_config),
        "start_concurrency": concurrency,
    }


def default_ulimits() -> tuple[str, ...]:
    """Testground's ``nofile=1048576:1048576``, lowered to this host's hard limit when that
    is smaller: a container may not raise a limit above its engine's (runc fails to start
    it), and an engine started by hand often has a low one (20,000 here)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nofile = TESTGROUND_NOFILE if hard == resource.RLIM_INFINITY else min(TESTGROUND_NOFILE, hard)
    return (f"nofile={nofile}:{nofile}",)


def _flag(config: Mapping[str, Any], key: str) -> bool:
    value = config.get(key, False)
    if not isinstance(value, bool):
        raise InputError(f"{WHERE} {key} = {value!r}: expected true or false")
    return value


def _strings(config: Mapping[str, Any], key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    value = config.get(key, list(default))
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"{WHERE} {key} = {value!r}: expected a list of strings")
    return tuple(v.strip() for v in value if v.strip())


def _duration(value: object) -> float:
    """Seconds of a Go-style duration (``45s``, ``2m``, ``500ms``) or a number of seconds,
    in the one grammar every duration is read with (:mod:`choreograph.durations`)."""
    where = f"{WHERE} outcomes_collection_timeout ="
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InputError(f"{where} {value!r}: expected a duration such as 45s")
    return parse_duration(value, where)
