"""Egress policy: longest-prefix rules, filters, routing policy, enable."""

import ipaddress

from choreograph.net.policy import DEFAULT_LINK, Action, EgressPolicy
from choreograph.wire.network import (
    FilterAction,
    LinkRule,
    LinkShape,
    NetworkConfig,
    RoutingPolicy,
)

SUBNET = ipaddress.IPv4Network("10.1.0.0/16")


def ip(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


def policy(**config: object) -> EgressPolicy:
    return EgressPolicy.from_config(SUBNET, NetworkConfig(**config), EgressPolicy(SUBNET))  # type: ignore[arg-type]


def test_longest_prefix_rule_wins_else_default() -> None:
    p = policy(
        rules=(
            LinkRule(ipaddress.ip_network("10.1.0.0/17"), LinkShape(loss=1)),
            LinkRule(ipaddress.ip_network("10.1.2.0/24"), LinkShape(loss=2)),
            LinkRule(ipaddress.ip_network("10.1.2.0/24"), LinkShape(loss=3)),
        )
    )
    assert p.link_for(ip("10.1.2.9")) == 1  # /24 beats /17; first of equals
    assert p.link_for(ip("10.1.3.9")) == 0
    assert p.link_for(ip("10.1.200.9")) == DEFAULT_LINK
    assert p.shapes[1].loss == 2


def test_filters_apply_per_link() -> None:
    drop = LinkRule(ipaddress.ip_network("10.1.2.0/24"), LinkShape(filter=FilterAction.DROP))
    reject = LinkRule(ipaddress.ip_network("10.1.3.0/24"), LinkShape(filter=FilterAction.REJECT))
    p = policy(rules=(drop, reject))
    for dst, action in [
        ("10.1.2.1", Action.DROP),
        ("10.1.3.1", Action.REJECT),
        ("10.1.4.1", Action.DELIVER),
    ]:
        assert p.decide(ip(dst), p.link_for(ip(dst))) is action


def test_routing_policy_only_concerns_the_outside() -> None:
    deny = policy(routing_policy=RoutingPolicy.DENY_ALL)
    assert deny.decide(ip("8.8.8.8"), DEFAULT_LINK) is Action.DROP
    assert deny.decide(ip("10.1.0.9"), DEFAULT_LINK) is Action.DELIVER
    allow = policy(routing_policy=RoutingPolicy.ALLOW_ALL)
    assert allow.decide(ip("8.8.8.8"), DEFAULT_LINK) is Action.OUTSIDE


def test_missing_routing_policy_keeps_the_previous_one() -> None:
    deny = policy(routing_policy=RoutingPolicy.DENY_ALL)
    later = EgressPolicy.from_config(SUBNET, NetworkConfig(), deny)
    assert later.routing is RoutingPolicy.DENY_ALL


def test_a_disabled_network_sends_nothing() -> None:
    assert policy(enable=False).decide(ip("10.1.0.9"), DEFAULT_LINK) is Action.DROP
