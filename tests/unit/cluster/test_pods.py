"""The manifests a run creates: DNS-safe pod names that stay distinct, label values, the
run's namespace, and one instance's pod (two containers, Testground's environment,
requests and limits, ports, sysctls, host aliases, deadline, outputs volume)."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest

from choreograph.cluster.config import parse_config
from choreograph.cluster.pods import (
    GROUP_LABEL,
    INSTANCE_LABEL,
    KEEP_ANNOTATION,
    KEY_ANNOTATION,
    MANAGED_LABEL,
    OWNER_HOST_ANNOTATION,
    RUN_ID_ANNOTATION,
    RUN_LABEL,
    PodRequest,
    label_value,
    namespace_manifest,
    namespace_name,
    pod_manifest,
    pod_name,
    run_tag,
)

DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")


def is_port_name(name: str) -> bool:
    """Kubernetes' IsValidPortName (IANA_SVC_NAME)."""
    return (
        1 <= len(name) <= 15
        and re.fullmatch(r"[-a-z0-9]+", name) is not None
        and re.search(r"[a-z]", name) is not None
        and "--" not in name
        and not name.startswith("-")
        and not name.endswith("-")
    )


def test_run_tag_is_short_stable_and_dns_safe() -> None:
    tag = run_tag("run-20240101-abc")
    assert tag == run_tag("run-20240101-abc")
    assert tag != run_tag("run-20240101-abd")
    assert len(tag) == 10
    assert DNS_LABEL.fullmatch(tag)
    assert namespace_name("choreo", "run-20240101-abc") == f"choreo-{tag}"


@pytest.mark.parametrize(
    ("key", "name"), [("g/3", "g-3"), ("peers/0", "peers-0"), ("a-b/12", "a-b-12")]
)
def test_pod_name_of_a_plain_key(key: str, name: str) -> None:
    assert pod_name(key) == name


@pytest.mark.parametrize(
    ("key", "base"),
    [
        ("My_Group/2", "my-group"),
        ("Peers/0", "peers"),
        ("a.b/1", "a-b"),
        ("__x__/4", "x"),
        ("___/5", "group"),
        ("grüppe/1", "gr-ppe"),
    ],
)
def test_pod_name_of_a_changed_group_carries_a_hash(key: str, base: str) -> None:
    name = pod_name(key)
    index = key.rpartition("/")[2]
    assert re.fullmatch(rf"{re.escape(base)}-[0-9a-f]{{6}}-{index}", name), name
    assert DNS_LABEL.fullmatch(name)


def test_pod_names_of_groups_that_sanitize_alike_differ() -> None:
    keys = ["my_group/1", "My_Group/1", "my.group/1", "my group/1", "my-group/1", "MY-GROUP/1"]
    names = [pod_name(k) for k in keys]
    assert len(set(names)) == len(keys)
    assert pod_name("my-group/1") == "my-group-1"
    assert all(DNS_LABEL.fullmatch(n) for n in names)


@pytest.mark.parametrize("length", [60, 61, 62, 100, 300])
def test_pod_name_of_a_long_group_fits(length: int) -> None:
    for index in ("3", "1234"):
        key = f"{'a' * length}/{index}"
        name = pod_name(key)
        assert len(name) <= 63
        assert DNS_LABEL.fullmatch(name)
        assert name.endswith(f"-{index}")
        if len(key) <= 63:
            assert name == key.replace("/", "-")


def test_pod_names_of_long_groups_stay_distinct() -> None:
    keys = [f"{'g' * 100}{suffix}/{i}" for suffix in ("x", "y", "-x", "_x") for i in range(3)]
    names = [pod_name(k) for k in keys]
    assert len(set(names)) == len(keys)
    assert all(len(n) <= 63 and DNS_LABEL.fullmatch(n) for n in names)


def test_pod_name_of_a_long_group_ending_in_a_dash_at_the_cut() -> None:
    name = pod_name(f"{'a' * 53}-{'b' * 20}/7")
    assert len(name) <= 63
    assert DNS_LABEL.fullmatch(name)
    assert "--" not in name


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("g-3", "g-3"),
        ("My_Group.v1", "My_Group.v1"),
        ("g/3", "g-3"),
        ("a b  c", "a-b-c"),
        ("-x-", "x"),
        ("_.x._", "x"),
        ("grüppe", "gr-ppe"),
        ("", ""),
        ("///", ""),
    ],
)
def test_label_value(text: str, value: str) -> None:
    assert label_value(text) == value


def test_label_value_at_most_63_with_alphanumeric_ends() -> None:
    value = label_value("a" * 62 + "-" + "b" * 10)
    assert value == "a" * 62
    assert len(label_value("x" * 100)) == 63
    assert LABEL_VALUE.fullmatch(value)


@pytest.mark.parametrize("keep", [False, True])
def test_namespace_manifest(keep: bool) -> None:
    manifest = namespace_manifest("choreo-abc", "run-1", "host-a", keep=keep)
    assert manifest["apiVersion"] == "v1"
    assert manifest["kind"] == "Namespace"
    metadata = manifest["metadata"]
    assert metadata["name"] == "choreo-abc"
    assert metadata["labels"] == {RUN_LABEL: run_tag("run-1"), MANAGED_LABEL: "choreograph"}
    expected = {RUN_ID_ANNOTATION: "run-1", OWNER_HOST_ANNOTATION: "host-a"}
    if keep:
        expected[KEEP_ANNOTATION] = "true"
    assert metadata["annotations"] == expected


REQUEST = PodRequest(
    key="peers/3",
    group="peers",
    image="plan:abc",
    command=["/plan", "--run"],
    env={"TEST_RUN": "r", "TEST_CASE": "c", "TEST_GROUP_ID": "peers"},
    cpu="250m",
    memory="256Mi",
    collector_image="docker.io/library/busybox:1.36-glibc",
)


def containers(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in manifest["spec"]["containers"]}


def test_pod_manifest_shape() -> None:
    manifest = pod_manifest("run-1", REQUEST)
    assert manifest["apiVersion"] == "v1"
    assert manifest["kind"] == "Pod"
    assert manifest["metadata"]["name"] == "peers-3"
    assert manifest["metadata"]["labels"] == {
        RUN_LABEL: run_tag("run-1"),
        GROUP_LABEL: "peers",
        INSTANCE_LABEL: "peers-3",
        MANAGED_LABEL: "choreograph",
    }
    assert manifest["metadata"]["annotations"] == {KEY_ANNOTATION: "peers/3"}
    spec = manifest["spec"]
    assert spec["restartPolicy"] == "Never"
    assert spec["enableServiceLinks"] is False
    assert spec["automountServiceAccountToken"] is False
    assert [c["name"] for c in spec["containers"]] == ["instance", "collector"]
    for absent in ("activeDeadlineSeconds", "hostAliases", "securityContext", "hostname"):
        assert absent not in spec


def test_pod_manifest_instance_container() -> None:
    instance = containers(pod_manifest("run-1", REQUEST))["instance"]
    assert instance["image"] == "plan:abc"
    assert instance["imagePullPolicy"] == "IfNotPresent"
    assert instance["command"] == ["/plan", "--run"]
    assert instance["env"] == [
        {"name": "TEST_CASE", "value": "c"},
        {"name": "TEST_GROUP_ID", "value": "peers"},
        {"name": "TEST_RUN", "value": "r"},
    ]
    assert instance["resources"] == {"requests": {"cpu": "250m", "memory": "256Mi"}}
    assert "ports" not in instance


def test_pod_manifest_collector_container() -> None:
    collector = containers(pod_manifest("run-1", REQUEST))["collector"]
    assert collector["image"] == "docker.io/library/busybox:1.36-glibc"
    assert collector["imagePullPolicy"] == "IfNotPresent"
    assert collector["command"][:2] == ["sh", "-c"]
    assert collector["resources"]["requests"] == {"cpu": "1m", "memory": "4Mi"}
    assert collector["volumeMounts"] == [{"name": "outputs", "mountPath": "/outputs"}]
    custom = replace(REQUEST, collector_cpu="5m", collector_memory="8Mi")
    assert containers(pod_manifest("run-1", custom))["collector"]["resources"]["requests"] == {
        "cpu": "5m",
        "memory": "8Mi",
    }


def test_pod_manifest_volumes() -> None:
    manifest = pod_manifest("run-1", REQUEST)
    assert manifest["spec"]["volumes"] == [
        {"name": "outputs", "emptyDir": {}},
        {"name": "temp", "emptyDir": {}},
    ]
    assert containers(manifest)["instance"]["volumeMounts"] == [
        {"name": "outputs", "mountPath": "/outputs"},
        {"name": "temp", "mountPath": "/temp"},
    ]


def test_pod_manifest_no_command_uses_the_image_entrypoint() -> None:
    instance = containers(pod_manifest("run-1", replace(REQUEST, command=())))["instance"]
    assert "command" not in instance


@pytest.mark.parametrize(
    ("cpu_limit", "memory_limit", "limits"),
    [
        ("", "", None),
        ("1", "", {"cpu": "1"}),
        ("", "1Gi", {"memory": "1Gi"}),
        ("1", "1Gi", {"cpu": "1", "memory": "1Gi"}),
    ],
)
def test_pod_manifest_limits_only_when_given(
    cpu_limit: str, memory_limit: str, limits: dict[str, str] | None
) -> None:
    request = replace(REQUEST, cpu_limit=cpu_limit, memory_limit=memory_limit)
    resources = containers(pod_manifest("run-1", request))["instance"]["resources"]
    assert resources["requests"] == {"cpu": "250m", "memory": "256Mi"}
    assert resources.get("limits") == limits


def test_pod_manifest_ports() -> None:
    request = replace(
        REQUEST,
        ports={"pprof": "6060", "Metrics_Endpoint_HTTP": "9090/udp", "a.b": "7000/tcp"},
    )
    ports = containers(pod_manifest("run-1", request))["instance"]["ports"]
    assert ports == [
        {"name": "metrics-endpoin", "containerPort": 9090, "protocol": "UDP"},
        {"name": "a-b", "containerPort": 7000, "protocol": "TCP"},
        {"name": "pprof", "containerPort": 6060, "protocol": "TCP"},
    ]
    assert all(is_port_name(p["name"]) for p in ports)


def test_pod_manifest_port_name_not_ending_in_a_dash_after_the_cut() -> None:
    request = replace(REQUEST, ports={"abcdefghijklmn_opq": "1"})
    [port] = containers(pod_manifest("run-1", request))["instance"]["ports"]
    assert port["name"] == "abcdefghijklmn"


def test_pod_manifest_port_names_stay_distinct() -> None:
    exposed = {"metrics_endpoint_a": "9000", "metrics_endpoint_b": "9001"}
    request = replace(REQUEST, ports=parse_config({"exposed_ports": exposed}).exposed_ports)
    ports = containers(pod_manifest("run-1", request))["instance"]["ports"]
    assert len({p["name"] for p in ports}) == 2


@pytest.mark.parametrize("name", ["a--b", "debug_-port", "123456789012345abc"])
def test_pod_manifest_port_names_are_valid(name: str) -> None:
    request = replace(REQUEST, ports=parse_config({"exposed_ports": {name: "1"}}).exposed_ports)
    [port] = containers(pod_manifest("run-1", request))["instance"]["ports"]
    assert is_port_name(port["name"]), port["name"]


def test_pod_manifest_sysctls() -> None:
    request = replace(REQUEST, sysctls={"net.ipv4.tcp_tw_reuse": "1", "net.core.somaxconn": "1e4"})
    assert pod_manifest("run-1", request)["spec"]["securityContext"] == {
        "sysctls": [
            {"name": "net.core.somaxconn", "value": "1e4"},
            {"name": "net.ipv4.tcp_tw_reuse", "value": "1"},
        ]
    }


def test_pod_manifest_host_aliases_grouped_by_ip() -> None:
    request = replace(
        REQUEST,
        host_aliases={
            "testground-sync-service": "10.0.0.1",
            "sync": "10.0.0.1",
            "redis": "10.0.0.2",
        },
    )
    assert pod_manifest("run-1", request)["spec"]["hostAliases"] == [
        {"ip": "10.0.0.2", "hostnames": ["redis"]},
        {"ip": "10.0.0.1", "hostnames": ["sync", "testground-sync-service"]},
    ]


def test_pod_manifest_hostname() -> None:
    assert pod_manifest("run-1", replace(REQUEST, hostname="peers-3"))["spec"]["hostname"] == (
        "peers-3"
    )


@pytest.mark.parametrize(("deadline", "present"), [(0, False), (900, True)])
def test_pod_manifest_deadline_only_when_positive(deadline: int, present: bool) -> None:
    spec = pod_manifest("run-1", replace(REQUEST, deadline_s=deadline))["spec"]
    assert ("activeDeadlineSeconds" in spec) is present
    if present:
        assert spec["activeDeadlineSeconds"] == deadline


def test_pod_manifest_of_a_changed_group() -> None:
    request = replace(REQUEST, key="My_Peers/10", group="My_Peers")
    metadata = pod_manifest("run-2", request)["metadata"]
    assert metadata["name"] == pod_name("My_Peers/10")
    assert metadata["name"] != "my-peers-10"
    assert metadata["labels"][GROUP_LABEL] == "My_Peers"
    assert metadata["labels"][INSTANCE_LABEL] == "My_Peers-10"
    assert metadata["labels"][RUN_LABEL] == run_tag("run-2")
    assert metadata["annotations"][KEY_ANNOTATION] == "My_Peers/10"
