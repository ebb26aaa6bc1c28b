"""What a plan pays for importing the SDK, and what it may name."""

import json
import subprocess
import sys

import choreograph.sdk

HOST_SIDE = (
    "pydantic",
    "typer",
    "rich",
    "psutil",
    "choreograph.plan",
    "choreograph.runners",
    "choreograph.sync_service",
    "choreograph.builders",
    "choreograph.results",
    "choreograph.engine",
    "choreograph.cli",
)


def test_import_loads_no_host_side_module() -> None:
    code = "import json, sys, choreograph.sdk; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout)
    offending = [m for m in loaded if any(m == h or m.startswith(h + ".") for h in HOST_SIDE)]
    assert offending == []


def test_public_surface_is_pinned() -> None:
    assert choreograph.sdk.__all__ == [
        "BlockingNetworkClient",
        "BlockingSubscription",
        "BlockingSyncClient",
        "Counter",
        "FilterAction",
        "Gauge",
        "Histogram",
        "InitContext",
        "LinkRule",
        "LinkShape",
        "Metrics",
        "NetworkClient",
        "NetworkConfig",
        "ParamError",
        "RoutingPolicy",
        "RunEnv",
        "Subscription",
        "SyncClient",
        "SyncError",
        "Timer",
        "invoke",
        "invoke_map",
    ]
    for name in choreograph.sdk.__all__:
        assert getattr(choreograph.sdk, name).__doc__, f"{name} has no docstring"
    assert "invoke(" in (choreograph.sdk.__doc__ or "")
