"""Every instance reports what its `packaging` makes of a version string that is not
PEP 440, and checks, through the sync service, what every other instance saw.

`packaging` 21.x parses "1.0-legacy" as a `LegacyVersion`; 22.0 removed `LegacyVersion`,
so 24.2 raises `InvalidVersion`. A group asserts it runs the version its composition
pinned and behaves as that version should; then all instances exchange their findings,
and each asserts that every version in the run was seen, one behaviour per version.
"""

from __future__ import annotations

import json

import packaging
from packaging import version

from choreograph.sdk import InitContext, RunEnv, invoke_map


def verdict(probe: str) -> str:
    try:
        parsed = version.parse(probe)
    except version.InvalidVersion:
        return "InvalidVersion"
    return type(parsed).__name__


def exchange(runenv: RunEnv, ctx: InitContext) -> None:
    group = runenv.test_group_id
    mine = {
        "instance": f"{group}/{runenv.group_index}",
        "version": packaging.__version__,
        "verdict": verdict(runenv.string_param("probe")),
    }
    pinned = runenv.string_param("expect_version")
    assert mine["version"] == pinned, (
        f"group {group} runs packaging {mine['version']}, its composition pinned {pinned}"
    )
    expected = runenv.string_param("expect_verdict")
    assert mine["verdict"] == expected, (
        f"packaging {pinned} made {mine['verdict']} of the probe, expected {expected}"
    )

    client = ctx.sync_client
    _, sub = client.publish_subscribe("findings", mine)
    seen = [next(sub) for _ in range(runenv.test_instance_count)]
    sub.close()
    behaviours: dict[str, set[str]] = {}
    for finding in seen:
        behaviours.setdefault(finding["version"], set()).add(finding["verdict"])
    (runenv.outputs_path / "findings.json").write_text(json.dumps(seen, indent=2))
    runenv.record_message(
        "; ".join(f"packaging {v}: {', '.join(sorted(b))}" for v, b in sorted(behaviours.items()))
    )

    versions = set(runenv.string_param("versions").split(","))
    assert set(behaviours) == versions, f"expected versions {versions}, saw {set(behaviours)}"
    assert all(len(b) == 1 for b in behaviours.values()), f"one version, two behaviours: {seen}"
    distinct = {next(iter(b)) for b in behaviours.values()}
    assert len(distinct) == len(behaviours), f"two versions behaved the same: {behaviours}"


if __name__ == "__main__":
    invoke_map({"exchange": exchange})
