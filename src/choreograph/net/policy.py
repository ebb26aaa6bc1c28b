"""Where a packet may go, decided from the sender's config alone: pure, no I/O.

Shaping is egress shaping, as under Testground: a packet from A to B meets A's config.
The link shape is the ``rules`` entry whose subnet contains the destination (longest
prefix wins, the way routes are chosen; the first listed among equals), else ``default``.
Then, in order: a disabled network sends nothing; the shape's ``filter`` drops or rejects;
a destination outside the data network is dropped under ``deny_all`` and leaves through
this host under ``allow_all``; one inside it goes to whichever instance holds the address.
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass, field

from choreograph.wire.network import FilterAction, LinkShape, NetworkConfig, RoutingPolicy

DEFAULT_LINK = -1
"""The link key of the ``default`` shape; rules are keyed by their index."""


class Action(enum.Enum):
    DELIVER = "deliver"
    """To the instance holding the destination address."""
    OUTSIDE = "outside"
    """Out through this host (``allow_all``, destination outside the data network)."""
    DROP = "drop"
    REJECT = "reject"
    """Dropped, and the sender told so with an ICMP "administratively prohibited"."""


@dataclass(frozen=True)
class EgressPolicy:
    """What one instance's config says about its outgoing packets."""

    subnet: ipaddress.IPv4Network
    default: LinkShape = field(default_factory=LinkShape)
    rules: tuple[tuple[ipaddress.IPv4Network, LinkShape], ...] = ()
    routing: RoutingPolicy = RoutingPolicy.ALLOW_ALL
    enabled: bool = True

    @classmethod
    def from_config(
        cls, subnet: ipaddress.IPv4Network, config: NetworkConfig, previous: EgressPolicy
    ) -> EgressPolicy:
        """The policy ``config`` asks for; a missing routing policy keeps the previous one."""
        rules = tuple(
            (rule.subnet, rule.shape)
            for rule in config.rules
            if isinstance(rule.subnet, ipaddress.IPv4Network)
        )
        return cls(
            subnet=subnet,
            default=config.default,
            rules=rules,
            routing=config.routing_policy or previous.routing,
            enabled=config.enable,
        )

    @property
    def shapes(self) -> dict[int, LinkShape]:
        """Every link this policy shapes, by link key."""
        return {DEFAULT_LINK: self.default, **{i: s for i, (_, s) in enumerate(self.rules)}}

    def link_for(self, destination: int) -> int:
        """The link key for a destination (an IPv4 address as an int)."""
        best, best_len = DEFAULT_LINK, -1
        for index, (net, _) in enumerate(self.rules):
            mask = int(net.netmask)
            if destination & mask == int(net.network_address) and net.prefixlen > best_len:
                best, best_len = index, net.prefixlen
        return best

    def decide(self, destination: int, link: int) -> Action:
        """What happens to a packet for ``destination`` sent on ``link``."""
        if not self.enabled:
            return Action.DROP
        shape = self.default if link == DEFAULT_LINK else self.rules[link][1]
        if shape.filter is FilterAction.DROP:
            return Action.DROP
        if shape.filter is FilterAction.REJECT:
            return Action.REJECT
        if destination & int(self.subnet.netmask) != int(self.subnet.network_address):
            return Action.OUTSIDE if self.routing is RoutingPolicy.ALLOW_ALL else Action.DROP
        return Action.DELIVER
