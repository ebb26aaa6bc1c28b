"""NetworkConfig JSON: every spelling the SDKs send decodes to the same config."""

import ipaddress
import json
from datetime import timedelta

import pytest

from choreograph.errors import InputError
from choreograph.wire.network import (
    FilterAction,
    LinkRule,
    LinkShape,
    NetworkConfig,
    RoutingPolicy,
)

SHAPED = NetworkConfig(
    default=LinkShape(
        latency=timedelta(milliseconds=100),
        jitter=timedelta(milliseconds=5),
        bandwidth=1 << 20,
        loss=1.5,
        corrupt_corr=25.0,
    ),
    rules=(LinkRule(ipaddress.ip_network("16.0.2.0/24"), LinkShape(filter=FilterAction.DROP)),),
    callback_state="network-configured",
    callback_target=3,
    routing_policy=RoutingPolicy.DENY_ALL,
    ipv4=ipaddress.IPv4Interface("16.0.1.2/16"),
)


def test_round_trip_through_json_text() -> None:
    assert NetworkConfig.from_json(json.loads(json.dumps(SHAPED.to_json()))) == SHAPED


def test_sdk_js_snake_case() -> None:
    # What sdk-js 0.1.2 publishes after normalizeConfig (lowerCamel -> snake_case).
    payload = {
        "network": "default",
        "enable": True,
        "default": {
            "latency": 100_000_000,
            "jitter": 5_000_000,
            "bandwidth": 1 << 20,
            "loss": 1.5,
            "corrupt_corr": 25,
        },
        "rules": [{"subnet": "16.0.2.0/24", "filter": 2}],
        "callback_state": "network-configured",
        "callback_target": 3,
        "routing_policy": "deny_all",
        "IPv4": "16.0.1.2/16",
    }
    assert NetworkConfig.from_json(payload) == SHAPED


def test_sdk_go_camel_case_with_go_ipnet() -> None:
    # Older sdk-go: exported field names, `State` for the callback, net.IPNet as IP + Mask.
    payload = {
        "Network": "default",
        "Enable": True,
        "Default": {
            "Latency": 100_000_000,
            "Jitter": 5_000_000,
            "Bandwidth": 1 << 20,
            "Loss": 1.5,
            "CorruptCorr": 25,
            "Filter": 0,
        },
        "Rules": [{"Subnet": {"IP": "16.0.2.0", "Mask": "////AA=="}, "Filter": 2}],
        "State": "network-configured",
        "RoutingPolicy": "deny_all",
        "IPv4": {"IP": "16.0.1.2", "Mask": "//8AAA=="},
        "IPv6": None,
    }
    assert NetworkConfig.from_json(payload) == NetworkConfig(
        **{**SHAPED.__dict__, "callback_target": 0}
    )


def test_go_zero_values_mean_unchanged_or_off() -> None:
    config = NetworkConfig.from_json({"network": "default", "IPv4": None, "routing_policy": ""})
    assert config.ipv4 is None and config.routing_policy is None
    assert config.enable is False  # as Go decodes a missing bool
    assert config.default == LinkShape()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"default": {"loss": 150}}, "loss"),
        ({"default": {"latency": "soon"}}, "default.latency"),
        ({"default": {"filter": "maybe"}}, "default.filter"),
        ({"routing_policy": "some"}, "routing_policy"),
        ({"rules": [{"latency": 5}]}, "rules[0].subnet"),
        ({"rules": [{"subnet": "300.0.0.0/8"}]}, "rules[0].subnet"),
        ({"IPv4": "16.0.0.1/99"}, "IPv4"),
        ({"default": [1]}, "default"),
    ],
)
def test_errors_name_the_field(payload: dict[str, object], field: str) -> None:
    with pytest.raises(InputError, match=field.replace("[", r"\[").replace("]", r"\]")):
        NetworkConfig.from_json(payload)


def test_filter_words_and_durations_as_text() -> None:
    shape = LinkShape.from_json({"latency": "150ms", "filter": "reject"})
    assert shape.latency == timedelta(milliseconds=150) and shape.filter is FilterAction.REJECT
    assert shape.to_json()["latency"] == 150_000_000 and shape.to_json()["filter"] == 1
