"""The network configuration an instance asks its sidecar for: link shapes, rules, policy.

Field names, units and JSON are Testground's (see testground-contract.md): durations are
Go ``time.Duration`` nanoseconds, ``bandwidth`` is bits/s (Testground's sidecar hands it
to an htb rate), probabilities are percentages 0-100. :meth:`NetworkConfig.from_json`
accepts every spelling the SDKs send: sdk-js and recent sdk-go snake_case
(``callback_state``, ``routing_policy``, ``"IPv4": "10.1.0.5/16"``), older sdk-go CamelCase
(``Default``, ``CorruptCorr``, ``State`` for the callback state, ``IPv4`` as
``{"IP": …, "Mask": <base64>}``), and ``filter`` as sdk-go's integers or as words.
:meth:`NetworkConfig.to_json` writes the snake_case form every current reader decodes.
"""

from __future__ import annotations

import base64
import enum
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from choreograph.errors import InputError
from choreograph.wire.durations import parse_duration_ns

DEFAULT_NETWORK = "default"
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface

_PERCENT_FIELDS = (
    "loss",
    "corrupt",
    "corrupt_corr",
    "reorder",
    "reorder_corr",
    "duplicate",
    "duplicate_corr",
)
_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")


class FilterAction(enum.IntEnum):
    """What happens to matching packets; the integers are sdk-go's ``network.FilterAction``."""

    ACCEPT = 0
    REJECT = 1
    """Refused at once: the sender gets an ICMP "administratively prohibited" error."""
    DROP = 2
    """Silently discarded."""


class RoutingPolicy(enum.StrEnum):
    """Where an instance's traffic may go beyond the data network."""

    ALLOW_ALL = "allow_all"
    """Traffic outside the data network leaves through this host."""
    DENY_ALL = "deny_all"
    """Nothing outside the data network is reachable (the control path stays)."""


@dataclass(frozen=True)
class LinkShape:
    """How an instance's egress traffic is shaped (netem's vocabulary).

    ``latency`` and ``jitter`` (uniform in ``latency ± jitter``), ``bandwidth`` in bits/s
    (0: unlimited), ``filter``, and percentages: ``loss``, ``corrupt``, ``reorder`` (a
    reordered packet skips the latency), ``duplicate``, each ``*_corr`` the correlation of
    successive draws as netem defines it.
    """

    latency: timedelta = timedelta(0)
    jitter: timedelta = timedelta(0)
    bandwidth: int = 0
    filter: FilterAction = FilterAction.ACCEPT
    loss: float = 0.0
    corrupt: float = 0.0
    corrupt_corr: float = 0.0
    reorder: float = 0.0
    reorder_corr: float = 0.0
    duplicate: float = 0.0
    duplicate_corr: float = 0.0

    def __post_init__(self) -> None:
        for name in _PERCENT_FIELDS:
            value = getattr(self, name)
            if not 0.0 <= value <= 100.0:
                raise InputError(f"link shape: {name} = {value!r}: expected a percentage 0-100")
        if self.latency < timedelta(0) or self.jitter < timedelta(0):
            raise InputError("link shape: latency and jitter must not be negative")
        if self.bandwidth < 0:
            raise InputError(f"link shape: bandwidth = {self.bandwidth}: expected bits/s >= 0")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "latency": _ns(self.latency),
            "jitter": _ns(self.jitter),
            "bandwidth": self.bandwidth,
            "filter": int(self.filter),
        }
        out.update({name: getattr(self, name) for name in _PERCENT_FIELDS})
        return out

    @classmethod
    def from_json(cls, data: Any, where: str = "default") -> LinkShape:
        if data is None:
            return cls()
        obj = _object(data, where)
        try:
            return cls(
                latency=_duration(obj.get("latency", 0), f"{where}.latency"),
                jitter=_duration(obj.get("jitter", 0), f"{where}.jitter"),
                bandwidth=_int(obj.get("bandwidth", obj.get("bandwith", 0)), f"{where}.bandwidth"),
                filter=_filter(obj.get("filter", 0), f"{where}.filter"),
                **{n: _float(obj.get(n, 0), f"{where}.{n}") for n in _PERCENT_FIELDS},
            )
        except InputError as exc:
            raise InputError(f"network config: {where}: {exc}") from None


@dataclass(frozen=True)
class LinkRule:
    """A :class:`LinkShape` for traffic to one subnet (sdk-go ``LinkRule``)."""

    subnet: IPNetwork
    shape: LinkShape = LinkShape()

    def to_json(self) -> dict[str, Any]:
        return {**self.shape.to_json(), "subnet": str(self.subnet)}


@dataclass(frozen=True)
class NetworkConfig:
    """One request to the sidecar: the whole desired state of the instance's data network.

    ``routing_policy=None`` and ``ipv4=None`` leave the current policy and address as they
    are. ``enable=False`` disconnects the instance from the data network. The sidecar
    signals ``callback_state`` once the config is applied; ``callback_target`` (0: every
    instance) is how many signals ``configure_network`` waits for. JSON without ``enable``
    decodes as ``False``, as Go decodes it.
    """

    default: LinkShape = LinkShape()
    rules: tuple[LinkRule, ...] = ()
    callback_state: str = ""
    callback_target: int = 0
    routing_policy: RoutingPolicy | None = None
    ipv4: ipaddress.IPv4Interface | None = None
    ipv6: ipaddress.IPv6Interface | None = None
    enable: bool = True
    network: str = DEFAULT_NETWORK
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """Fields we do not know, kept as received."""

    def to_json(self) -> dict[str, Any]:
        return {
            "network": self.network,
            "enable": self.enable,
            "default": self.default.to_json(),
            "rules": [rule.to_json() for rule in self.rules],
            "IPv4": str(self.ipv4) if self.ipv4 else None,
            "IPv6": str(self.ipv6) if self.ipv6 else None,
            "routing_policy": self.routing_policy.value if self.routing_policy else "",
            "callback_state": self.callback_state,
            "callback_target": self.callback_target,
        }

    @classmethod
    def from_json(cls, data: Any) -> NetworkConfig:
        """Decode any SDK's spelling; raise :class:`InputError` naming the bad field."""
        obj = _object(data, "(config)")
        rules = obj.get("rules") or []
        if not isinstance(rules, list):
            raise InputError(f"network config: rules: expected a list, found {rules!r:.80}")
        known = {"network", "enable", "default", "rules", "IPv4", "IPv6", "routing_policy"}
        known |= {"callback_state", "callback_target", "state"}
        return cls(
            network=str(obj.get("network") or DEFAULT_NETWORK),
            enable=bool(obj.get("enable", False)),
            default=LinkShape.from_json(obj.get("default"), "default"),
            rules=tuple(_rule(r, f"rules[{i}]") for i, r in enumerate(rules)),
            ipv4=_interface(obj.get("IPv4"), "IPv4", ipaddress.IPv4Interface),
            ipv6=_interface(obj.get("IPv6"), "IPv6", ipaddress.IPv6Interface),
            routing_policy=_policy(obj.get("routing_policy")),
            callback_state=str(obj.get("callback_state") or obj.get("state") or ""),
            callback_target=_int(obj.get("callback_target") or 0, "callback_target"),
            extra={k: v for k, v in obj.items() if k not in known},
        )


# --- decoding helpers ----------------------------------------------------------


def _snake(key: str) -> str:
    if key in ("IPv4", "IPv6", "IP", "Mask"):
        return key
    return _CAMEL.sub(r"_\1", key).lower()


def _object(data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise InputError(f"network config: {where}: expected an object, found {data!r:.80}")
    return {_snake(str(k)): v for k, v in data.items()}


def _ns(value: timedelta) -> int:
    return (value // timedelta(microseconds=1)) * 1000


def _duration(value: Any, where: str) -> timedelta:
    if isinstance(value, str):
        try:
            return timedelta(microseconds=parse_duration_ns(value) / 1000)
        except ValueError as exc:
            raise InputError(f"{where}: {exc}") from None
    return timedelta(microseconds=_float(value, where) / 1000)


def _float(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{where}: expected a number, found {value!r:.40}")
    return float(value)


def _int(value: Any, where: str) -> int:
    number = _float(value, where)
    if number != int(number):
        raise InputError(f"{where}: expected a whole number, found {value!r}")
    return int(number)


def _filter(value: Any, where: str) -> FilterAction:
    if isinstance(value, str):
        try:
            return FilterAction[value.strip().upper()]
        except KeyError:
            raise InputError(f"{where}: {value!r}: expected accept, reject or drop") from None
    try:
        return FilterAction(_int(value, where))
    except ValueError:
        raise InputError(f"{where}: {value!r}: expected 0 (accept), 1 (reject), 2 (drop)") from None


def _policy(value: Any) -> RoutingPolicy | None:
    if value in (None, ""):
        return None
    try:
        return RoutingPolicy(str(value))
    except ValueError:
        raise InputError(
            f"network config: routing_policy: {value!r}: expected allow_all or deny_all"
        ) from None


def _cidr(value: Any, where: str) -> str | None:
    """A CIDR string from either ``"a.b.c.d/n"`` or Go's ``{"IP": …, "Mask": <base64>}``."""
    if value in (None, ""):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and "IP" in value:
        if not value.get("IP"):
            return None
        try:
            mask = base64.b64decode(value.get("Mask") or "")
        except ValueError:
            raise InputError(f"network config: {where}.Mask: not base64") from None
        prefix = sum(bin(byte).count("1") for byte in mask) if mask else None
        return f"{value['IP']}/{prefix}" if prefix is not None else str(value["IP"])
    raise InputError(f"network config: {where}: expected a CIDR string, found {value!r:.80}")


def _interface(value: Any, where: str, kind: type[Any]) -> Any:
    text = _cidr(value, where)
    if text is None:
        return None
    try:
        return kind(text)
    except ValueError as exc:
        raise InputError(f"network config: {where}: {text!r}: {exc}") from None


def _rule(data: Any, where: str) -> LinkRule:
    obj = _object(data, where)
    text = _cidr(obj.get("subnet"), f"{where}.subnet")
    if text is None:
        raise InputError(f"network config: {where}.subnet: missing; expected e.g. '10.1.0.0/24'")
    try:
        subnet = ipaddress.ip_network(text, strict=False)
    except ValueError as exc:
        raise InputError(f"network config: {where}.subnet: {text!r}: {exc}") from None
    return LinkRule(subnet, LinkShape.from_json(obj, where))
