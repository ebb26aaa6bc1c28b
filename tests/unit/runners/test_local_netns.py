"""local:netns without a network: its run config and what it says when it cannot run."""

import pytest

from choreograph.errors import InputError
from choreograph.runners import local_netns
from choreograph.runners.local_netns import _parse_config, privilege_problems


def test_run_config_defaults_and_errors() -> None:
    assert _parse_config({}) == {
        "subnet": None,
        "mtu": 1500,
        "shaping": "userspace",
        "launcher": "fork",
        "sample_interval": 1.0,
    }
    assert _parse_config({"subnet": "10.9.0.0/16", "mtu": 9000})["mtu"] == 9000
    assert _parse_config({"sample_interval": "250ms"})["sample_interval"] == 0.25
    with pytest.raises(InputError, match="sample_interval"):
        _parse_config({"sample_interval": "soon"})
    with pytest.raises(InputError, match="unknown setting 'latency'"):
        _parse_config({"latency": "10ms"})
    with pytest.raises(InputError, match="mtu = 70000"):
        _parse_config({"mtu": 70000})
    with pytest.raises(InputError, match="launcher = 'docker'"):
        _parse_config({"launcher": "docker"})


def test_without_root_or_user_namespaces_the_error_names_what_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(local_netns, "privileged", lambda: False)
    monkeypatch.setattr(
        local_netns, "rootless_problems", lambda: ["user namespaces are disabled (x=0)"]
    )
    (problem,) = privilege_problems()
    assert "CAP_NET_ADMIN and CAP_SYS_ADMIN" in problem and "x=0" in problem
    monkeypatch.setattr(local_netns, "rootless_problems", lambda: [])
    assert privilege_problems() == []  # rootless mode will do
