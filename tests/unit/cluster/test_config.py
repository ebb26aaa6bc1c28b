"""The ``[runners."cluster:k8s"]`` settings: defaults, every Testground key accepted, what
cannot be used refused up front naming the key, and which kubeconfig is used."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from choreograph.cluster import config as k8s_config
from choreograph.cluster.config import (
    CONFIG_KEYS,
    DEFAULT_COLLECTOR_IMAGE,
    LOCAL_CONTAINERD,
    WHERE,
    K8sConfig,
    kubeconfig_path,
    parse_config,
)
from choreograph.errors import InputError


def test_defaults() -> None:
    config = parse_config({})
    assert config == K8sConfig()
    assert config.pod_cpu == "10m"
    assert config.pod_memory == "10Mi"
    assert config.collector_cpu == "1m"
    assert config.collector_memory == "4Mi"
    assert config.run_timeout_min == 0
    assert config.keep_service is False
    assert config.autoscaler_enabled is False
    assert dict(config.exposed_ports) == {}
    assert dict(config.sysctls) == {}
    assert config.log_level == ""
    assert config.kubeconfig == ""
    assert config.context == ""
    assert config.namespace_prefix == "choreo"
    assert config.sync_host == ""
    assert config.image_load == "auto"
    assert config.containerd_address == LOCAL_CONTAINERD
    assert config.registry == ""
    assert config.api_concurrency == 16
    assert config.follow_logs == 100
    assert config.collector_image == DEFAULT_COLLECTOR_IMAGE


# Testground's keys, with values as its documentation and example compositions give them.
TESTGROUND: dict[str, Any] = {
    "testplan_pod_cpu": "250m",
    "testplan_pod_memory": "512Mi",
    "collect_outputs_pod_cpu": "100m",
    "collect_outputs_pod_memory": "64Mi",
    "run_timeout_min": 15,
    "keep_service": True,
    "exposed_ports": {"pprof": "6060", "metrics": "9090/udp"},
    "sysctls": ["net.core.somaxconn=10000", "net.ipv4.tcp_tw_reuse = 1"],
    "log_level": "debug",
    "provider": "aws",
    "autoscaler_enabled": True,
}

OURS: dict[str, Any] = {
    "kubeconfig": " /etc/k.yaml ",
    "context": "kind-x",
    "namespace_prefix": "tg",
    "sync_host": "10.0.0.5",
    "image_load": "registry",
    "containerd_address": "/run/c.sock",
    "registry": "localhost:5000/plans",
    "api_concurrency": 4,
    "follow_logs": 0,
    "collector_image": "busybox:1.37",
    "sync_service": "cluster",
    "sync_access": "apiserver",
    "pod_cidr": ["10.244.0.0/16", "fd00::/64"],
    "sync_service_cpu": "250m",
    "sync_service_memory": "128Mi",
    "shaping": "none",
    "subnet": "10.9.0.0/16",
    "mtu": 1400,
    "sample_interval": "2s",
}


def test_every_key_is_known() -> None:
    assert set(TESTGROUND) | set(OURS) == set(CONFIG_KEYS)


def test_every_testground_key_accepted() -> None:
    config = parse_config(TESTGROUND)
    assert config.pod_cpu == "250m"
    assert config.pod_memory == "512Mi"
    assert config.collector_cpu == "100m"
    assert config.collector_memory == "64Mi"
    assert config.run_timeout_min == 15
    assert config.keep_service is True
    assert config.autoscaler_enabled is True
    assert dict(config.exposed_ports) == {"pprof": "6060", "metrics": "9090/udp"}
    assert dict(config.sysctls) == {"net.core.somaxconn": "10000", "net.ipv4.tcp_tw_reuse": "1"}
    assert config.log_level == "debug"


def test_every_key_of_ours_accepted() -> None:
    config = parse_config({**TESTGROUND, **OURS})
    assert config.kubeconfig == "/etc/k.yaml"  # strings are stripped
    assert config.context == "kind-x"
    assert config.namespace_prefix == "tg"
    assert config.sync_host == "10.0.0.5"
    assert config.image_load == "registry"
    assert config.containerd_address == "/run/c.sock"
    assert config.registry == "localhost:5000/plans"
    assert config.api_concurrency == 4
    assert config.follow_logs == 0
    assert config.collector_image == "busybox:1.37"
    assert (config.sync_service, config.sync_access) == ("cluster", "apiserver")
    assert config.pod_cidr == ("10.244.0.0/16", "fd00::/64")
    assert (config.sync_service_cpu, config.sync_service_memory) == ("250m", "128Mi")


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("sync_service", "elsewhere", "expected one of ('auto', 'host', 'cluster')"),
        ("sync_access", "tunnel", "expected one of ('auto', 'direct', 'apiserver')"),
        ("pod_cidr", "10.244.0.0/33", "'10.244.0.0/33': expected a network"),
        ("pod_cidr", 10, "expected a network such as"),
        ("sync_service_memory", "lots", "sync_service_memory"),
    ],
)
def test_sync_service_settings_refused_with_what_was_expected(
    key: str, value: object, expected: str
) -> None:
    with pytest.raises(InputError, match=re.escape(expected)):
        parse_config({key: value})


def test_one_pod_cidr_may_be_a_string() -> None:
    assert parse_config({"pod_cidr": "10.244.1.7/16"}).pod_cidr == ("10.244.0.0/16",)


@pytest.mark.parametrize(
    ("value", "expected"), [(" 2 ", "2"), (0.5, "0.5"), (2, "2"), ("1e3m", "1e3m")]
)
def test_quantities_kept_as_written(value: object, expected: str) -> None:
    assert parse_config({"testplan_pod_cpu": value}).pod_cpu == expected


def test_unknown_key_refused_naming_it() -> None:
    with pytest.raises(InputError) as caught:
        parse_config({"testplan_pod_cpu": "1", "pod_cpus": "1"})
    message = str(caught.value)
    assert "'pod_cpus'" in message
    assert message.startswith(WHERE)


@pytest.mark.parametrize(
    "key",
    [
        "testplan_pod_cpu",
        "testplan_pod_memory",
        "collect_outputs_pod_cpu",
        "collect_outputs_pod_memory",
    ],
)
@pytest.mark.parametrize("value", ["lots", "1 core", "-1", True])
def test_bad_quantity_refused_naming_key(key: str, value: object) -> None:
    with pytest.raises(InputError) as caught:
        parse_config({key: value})
    message = str(caught.value)
    assert f"{WHERE} {key}" in message
    assert "Kubernetes quantity" in message


@pytest.mark.parametrize("value", [-1, 1.5, "10", True, None])
def test_bad_run_timeout_refused(value: object) -> None:
    with pytest.raises(InputError, match="run_timeout_min"):
        parse_config({"run_timeout_min": value})


@pytest.mark.parametrize("key", ["keep_service", "autoscaler_enabled"])
@pytest.mark.parametrize("value", ["true", 1, 0, None])
def test_non_bool_flags_refused(key: str, value: object) -> None:
    with pytest.raises(InputError, match=f"{key} = .*expected true or false"):
        parse_config({key: value})


@pytest.mark.parametrize(
    "value",
    [
        ["net.core.somaxconn"],  # no value
        ["somaxconn=1"],  # not a dotted name
        ["Net.Core.Somaxconn=1"],
        ["net.core.somaxconn=1", 3],
        "net.core.somaxconn=1",  # a string, not a list
        {"net.core.somaxconn": "1"},
    ],
)
def test_bad_sysctls_refused(value: object) -> None:
    with pytest.raises(InputError, match="sysctls"):
        parse_config({"sysctls": value})


def test_sysctl_wildcards_and_dashes_accepted() -> None:
    config = parse_config(
        {"sysctls": ["net.ipv4.conf.eth-0.forwarding=1", "kernel.shm_rmid_forced=1"]}
    )
    assert dict(config.sysctls) == {
        "net.ipv4.conf.eth-0.forwarding": "1",
        "kernel.shm_rmid_forced": "1",
    }


@pytest.mark.parametrize(
    "value",
    [
        {"pprof": "http"},
        {"pprof": "6060/sctp"},
        {"pprof": "123456"},
        {"pprof": ""},
        {"6060": "6060"},  # a name needs a letter
        ["6060"],
        "pprof=6060",
    ],
)
def test_bad_exposed_ports_refused(value: object) -> None:
    with pytest.raises(InputError, match="exposed_ports"):
        parse_config({"exposed_ports": value})


def test_exposed_port_numbers_may_be_integers() -> None:
    assert dict(parse_config({"exposed_ports": {"pprof": 6060}}).exposed_ports) == {"pprof": "6060"}


@pytest.mark.parametrize("port", ["0", "70000", "99999/udp"])
def test_exposed_port_out_of_range_refused(port: str) -> None:
    with pytest.raises(InputError, match="exposed_ports"):
        parse_config({"exposed_ports": {"pprof": port}})


@pytest.mark.parametrize(
    "prefix", ["Choreo", "-choreo", "choreo-", "cho_reo", "", "a" * 43, "chö", 7]
)
def test_bad_namespace_prefix_refused(prefix: object) -> None:
    with pytest.raises(InputError, match="namespace_prefix"):
        parse_config({"namespace_prefix": prefix})


@pytest.mark.parametrize("prefix", ["a", "tg-1", "0x", "a" * 42])
def test_namespace_prefix_accepted(prefix: str) -> None:
    assert parse_config({"namespace_prefix": prefix}).namespace_prefix == prefix


@pytest.mark.parametrize("key", ["log_level", "kubeconfig", "context", "sync_host", "registry"])
def test_string_keys_must_be_strings(key: str) -> None:
    with pytest.raises(InputError, match=f"{key} = 1: expected a string"):
        parse_config({key: 1})


@pytest.mark.parametrize("load", ["auto", "containerd", "none"])
def test_image_load_modes(load: str) -> None:
    assert parse_config({"image_load": load}).image_load == load


def test_unknown_image_load_refused() -> None:
    with pytest.raises(InputError, match="image_load = 'docker'"):
        parse_config({"image_load": "docker"})


@pytest.mark.parametrize("extra", [{}, {"registry": ""}, {"registry": "   "}])
def test_registry_load_needs_a_registry(extra: dict[str, str]) -> None:
    with pytest.raises(InputError, match='image_load = "registry" needs registry'):
        parse_config({"image_load": "registry", **extra})


def test_registry_load_with_registry() -> None:
    config = parse_config({"image_load": "registry", "registry": "reg.example.com:5000/p"})
    assert (config.image_load, config.registry) == ("registry", "reg.example.com:5000/p")


@pytest.mark.parametrize("value", [0, -2, True, "4", 1.5])
def test_bad_api_concurrency_refused(value: object) -> None:
    with pytest.raises(InputError, match="api_concurrency"):
        parse_config({"api_concurrency": value})


# kubeconfig_path: configured > $KUBECONFIG (first existing) > ~/.kube/config > local cluster


@pytest.fixture
def homes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty HOME, no $KUBECONFIG, and a local cluster kubeconfig that does not exist."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setattr(k8s_config, "LOCAL_KUBECONFIG", tmp_path / "local" / "admin.kubeconfig")
    return tmp_path


def _file(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("apiVersion: v1\n")
    return str(path)


def test_kubeconfig_configured_wins_even_if_missing(
    homes: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", _file(homes / "env.yaml"))
    _file(homes / "home" / ".kube" / "config")
    _file(k8s_config.LOCAL_KUBECONFIG)
    assert kubeconfig_path("/nowhere/k.yaml") == "/nowhere/k.yaml"


def test_kubeconfig_env_first_existing(homes: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    second = _file(homes / "second.yaml")
    third = _file(homes / "third.yaml")
    _file(homes / "home" / ".kube" / "config")
    monkeypatch.setenv(
        "KUBECONFIG", os.pathsep.join(["", str(homes / "missing.yaml"), second, third])
    )
    assert kubeconfig_path("") == second


def test_kubeconfig_env_none_existing_falls_back_to_home(
    homes: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(homes / "missing.yaml"))
    home_config = _file(homes / "home" / ".kube" / "config")
    _file(k8s_config.LOCAL_KUBECONFIG)
    assert kubeconfig_path("") == home_config


def test_kubeconfig_home_before_local(homes: Path) -> None:
    home_config = _file(homes / "home" / ".kube" / "config")
    _file(k8s_config.LOCAL_KUBECONFIG)
    assert kubeconfig_path("") == home_config


def test_kubeconfig_local_cluster_last(homes: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", "")
    local = _file(k8s_config.LOCAL_KUBECONFIG)
    assert kubeconfig_path("") == local


def test_kubeconfig_directory_is_not_a_kubeconfig(homes: Path) -> None:
    (homes / "home" / ".kube" / "config").mkdir(parents=True)
    assert kubeconfig_path("") == ""


def test_kubeconfig_none_found(homes: Path) -> None:
    assert kubeconfig_path("") == ""


@pytest.mark.parametrize("value", [-1, True, "10", 1.5])
def test_bad_follow_logs_refused(value: object) -> None:
    with pytest.raises(InputError, match=r"follow_logs = .*: expected a whole number"):
        parse_config({"follow_logs": value})
