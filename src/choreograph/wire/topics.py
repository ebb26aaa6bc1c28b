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
    """The topic an instance's network configs go to. Scoped like any topic: sdk-go and
    sdk-js publish it with the run's scope, and Testground's sidecar subscribes with it."""
    return f"network:{hostname}"
