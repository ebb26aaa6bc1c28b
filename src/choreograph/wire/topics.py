"""Sync-service key naming, as Testground's SDKs build it, so all SDKs meet on one key."""

from __future__ import annotations

RUN_EVENTS = "run_events"
NETWORK_INITIALIZED = "network-initialized"


def run_prefix(run: str, plan: str, case: str) -> str:
    """The scope every SDK puts in front of its states and topics."""
    return f"run:{run}:plan:{plan}:case:{case}"


def state_key(run: str, plan: str, case: str, state: str) -> str:
    return f"{run_prefix(run, plan, case)}:states:{state}"


def topic_key(run: str, plan: str, case: str, topic: str) -> str:
    return f"{run_prefix(run, plan, case)}:topics:{topic}"


def run_events_key(run: str, plan: str, case: str) -> str:
    return f"{run_prefix(run, plan, case)}:{RUN_EVENTS}"


def network_topic(hostname: str) -> str:
    """Unscoped on purpose: the sidecar knows the hostname, not the plan's scope."""
    return f"network:{hostname}"
