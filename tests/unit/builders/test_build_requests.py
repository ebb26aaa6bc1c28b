from pathlib import Path

from choreograph.builds import build_requests
from choreograph.plan.spec import Dependency, GroupSpec, RunSpec


def _group(gid: str, deps: tuple[Dependency, ...] = (), artifact: str = "") -> GroupSpec:
    return GroupSpec(gid, 1, {}, "exec:python", {}, deps, artifact=artifact)


def test_groups_with_one_dependency_set_share_a_build_and_prebuilt_ones_are_skipped() -> None:
    old = (Dependency("packaging", "21.3"),)
    spec = RunSpec(
        "p",
        Path("/p"),
        "c",
        "local:exec",
        (
            _group("a", old),
            _group("b", (Dependency("packaging", "24.2"),)),
            _group("c", old),
            _group("d", artifact="abc123"),
        ),
    )
    requests = build_requests(spec)
    assert [r.groups for r in requests] == [("a", "c"), ("b",)]
    assert requests[0].dependencies == old
