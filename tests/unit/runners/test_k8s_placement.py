"""cluster:k8s without a cluster: where a pod container's process is found, which nodes
count for capacity, and TEST_SUBNET from the nodes' pod ranges."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from choreograph.runners import cluster_k8s
from choreograph.runners.k8s_net import container_pid

UID = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
CID = "4f6c1f0e9a"


@pytest.mark.parametrize(
    "place",
    [
        f"pids/kubepods/burstable/pod{UID}/{CID}",
        f"pids/kubepods/besteffort/pod{UID}/{CID}",
        f"pids/kubepods/pod{UID}/{CID}",
        f"kubepods/burstable/pod{UID}/{CID}",
        "kubepods.slice/kubepods-burstable.slice/"
        f"kubepods-burstable-pod{UID.replace('-', '_')}.slice/cri-containerd-{CID}.scope",
    ],
)
def test_container_pid_from_the_kubelets_cgroups(tmp_path: Path, place: str) -> None:
    folder = tmp_path / place
    folder.mkdir(parents=True)
    (folder / "cgroup.procs").write_text("812\n640\n")
    assert container_pid(UID, CID, tmp_path) == 640


def test_no_pid_before_the_container_runs(tmp_path: Path) -> None:
    folder = tmp_path / f"pids/kubepods/burstable/pod{UID}/{CID}"
    folder.mkdir(parents=True)
    (folder / "cgroup.procs").write_text("")
    assert container_pid(UID, CID, tmp_path) is None
    assert container_pid(UID, "other", tmp_path) is None


def _node(pod_cidr: str = "", taints: tuple[str, ...] = ()) -> SimpleNamespace:
    return SimpleNamespace(
        spec=SimpleNamespace(
            pod_cidr=pod_cidr,
            taints=[SimpleNamespace(effect=e) for e in taints] or None,
            unschedulable=False,
        )
    )


def test_tainted_nodes_repel_the_runners_pods() -> None:
    assert cluster_k8s._tainted(_node(taints=("NoSchedule",)))
    assert cluster_k8s._tainted(_node(taints=("NoExecute",)))
    assert not cluster_k8s._tainted(_node(taints=("PreferNoSchedule",)))
    assert not cluster_k8s._tainted(_node())


def test_test_subnet_covers_every_nodes_pod_range() -> None:
    assert cluster_k8s._pod_subnet([_node("10.244.0.0/24")]) == "10.244.0.0/24"
    nodes = [_node("10.244.0.0/24"), _node("10.244.3.0/24")]
    assert cluster_k8s._pod_subnet(nodes) == "10.244.0.0/22"
    assert cluster_k8s._pod_subnet([_node("10.244.0.0/24"), _node()]) == ""
