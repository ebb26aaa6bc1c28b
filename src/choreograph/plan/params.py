"""Test params: the types a manifest declares and how values become instance strings.

Every value ends up in ``TEST_INSTANCE_PARAMS`` as text, so each type has one canonical
spelling that all SDKs parse: ``bool`` → ``true``/``false``, ``duration`` → a Go duration,
``json`` → compact JSON when written as a TOML table or array. Values come from, in
increasing precedence: the manifest default, ``[global.run] test_params``,
``[groups.run] test_params``, ``[[runs]] test_params``, ``[[runs.groups]] test_params``
and ``--tp key=value``.

Testground passes params a case does not declare straight through; Choreograph rejects
them, because a misspelt name would otherwise be silently ignored by the plan.

Types are those Testground plans use: ``int``, ``float``, ``bool``, ``string``,
``duration``, ``json``, ``enum`` (with ``values = [...]``, libp2p's ping) and ``size``
(go-humanize byte sizes such as ``"1GiB"``, libp2p's pubsub). Two other spellings found
in published manifests are read as their short forms: ``boolean`` (Lotus' manifests in
testground/testground) and ``str`` (sigp/gossipsub-testground). Any other type is an
error: Testground treats the type as a comment, so a misspelt one (``integer``) would
otherwise pass every value through unchecked, which is what declaring a type prevents.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationInfo, field_validator, model_validator

from choreograph.errors import Issue, PlanError
from choreograph.plan._toml import TomlModel, describe_value
from choreograph.wire.durations import format_duration, parse_duration_ns

_ALIASES = {"boolean": "bool", "str": "string"}
_MEANT = {"integer": "int", "number": "float"}
"""JSON Schema's names, which no Testground manifest uses: rejected, with the right one."""
_GO_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_GO_FALSE = {"0", "f", "F", "FALSE", "false", "False"}
_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"(?i)[+-]?(\d+\.?\d*(e[+-]?\d+)?|\.\d+(e[+-]?\d+)?|inf(inity)?|nan)")
_SECONDS = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)")
_SIZE = re.compile(r"(?i)(\d[\d,]*(\.\d*)?|\.\d+)\s*([kmgtpezy]i?b?|b)?")


def _int(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and _INT.fullmatch(value.strip()):
        return str(int(value.strip()))
    raise ValueError(f"expected an integer, found {describe_value(value)}")


def _float(value: object) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return repr(value)
    if isinstance(value, str) and _FLOAT.fullmatch(value.strip()):
        return value.strip()
    raise ValueError(f"expected a number, found {describe_value(value)}")


def _bool(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.strip() in _GO_TRUE | _GO_FALSE:
        return "true" if value.strip() in _GO_TRUE else "false"
    raise ValueError(f"expected true or false, found {describe_value(value)}")


def _string(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return _bool(value)
    if isinstance(value, int | float):
        return _float(value)
    return _json(value)


def _duration(value: object) -> str:
    """Go spelling kept; a bare number (``30`` or ``"30"``) means seconds, as in wire."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return format_duration(round(value * 1_000_000_000))
    if isinstance(value, str):
        text = value.strip()
        try:
            ns = parse_duration_ns(text)
        except ValueError:
            pass
        else:
            return format_duration(ns) if _SECONDS.fullmatch(text) and text != "0" else text
    raise ValueError(
        f"expected a duration such as '150ms' or '1m30s', found {describe_value(value)}"
    )


def _json(value: object) -> str:
    if isinstance(value, str):
        try:
            json.loads(value)
        except ValueError:
            raise ValueError(f"expected JSON text, found {describe_value(value)}") from None
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_isoformat)


def _isoformat(value: Any) -> str:
    return str(value.isoformat())


def _size(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if isinstance(value, str) and _SIZE.fullmatch(value.strip()):
        return value.strip()
    raise ValueError(
        f"expected a byte size such as '4096', '64KiB' or '1 GB', found {describe_value(value)}"
    )


_COERCE: dict[str, Callable[[object], str]] = {
    "int": _int,
    "float": _float,
    "bool": _bool,
    "string": _string,
    "duration": _duration,
    "json": _json,
    "size": _size,
    "enum": _string,  # membership in ``values`` is checked by Param.coerce
}
PARAM_TYPES = tuple(_COERCE)


class Param(TomlModel):
    """One ``[testcases.params.<name>]`` declaration: ``type``, ``desc``, ``unit``, ``default``."""

    type: str = "string"
    desc: str = ""
    unit: str = ""
    values: list[str] | None = None
    default: Any = None

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        kind = _ALIASES.get(value, value)
        if kind not in _COERCE:
            hint = f" (Testground's spelling is {_MEANT[value]!r})" if value in _MEANT else ""
            raise ValueError(f"expected one of {', '.join(PARAM_TYPES)}, found {value!r}{hint}")
        return kind

    @field_validator("default")
    @classmethod
    def _default_fits(cls, value: Any, info: ValidationInfo) -> Any:
        if value is not None and "type" in info.data:
            _coerce(info.data["type"], info.data.get("values"), value)
        return value

    @model_validator(mode="after")
    def _enum_has_values(self) -> Param:
        if (self.type == "enum") != (self.values is not None):
            raise ValueError("expected values = [...] exactly when type = 'enum'")
        return self

    def coerce(self, value: object) -> str:
        """``value`` as it goes into ``TEST_INSTANCE_PARAMS``; ``ValueError`` says why not."""
        return _coerce(self.type, self.values, value)

    def default_text(self) -> str | None:
        return None if self.default is None else self.coerce(self.default)


def _coerce(kind: str, values: Sequence[str] | None, value: object) -> str:
    text = _COERCE[kind](value)
    if values is not None and text not in values:
        raise ValueError(f"expected one of {', '.join(values)}, found {describe_value(value)}")
    if "|" in text:
        raise ValueError(
            f"found {describe_value(value)}, which contains '|': TEST_INSTANCE_PARAMS "
            "separates params with '|', so no value may contain it"
        )
    return text


@dataclass(frozen=True)
class ParamLayer:
    """One source of param values: a TOML table (with key lines) or the ``--tp`` flags."""

    source: str
    table: str
    """Field path of the table (``groups#2.run.test_params``); "" for flags."""
    values: Mapping[str, object]
    lines: Mapping[str, int | None] = field(default_factory=dict)
    passthrough: bool = False
    """Undeclared params pass through with a warning instead of failing. Compositions
    do this because Testground does (its own compositions set undeclared params);
    ``--tp`` flags stay strict, where a typo is the likelier cause."""


def resolve_params(
    declared: Mapping[str, Param],
    layers: Iterable[ParamLayer],
    *,
    case: str,
    warnings: list[Issue] | None = None,
) -> dict[str, str]:
    """Defaults overridden by each layer in turn; every bad value is reported at once.

    The result follows the manifest's declaration order; params with no default that no
    layer sets are left out, as Testground does.
    """
    values = {name: text for name, p in declared.items() if (text := p.default_text()) is not None}
    issues = []
    undeclared: dict[str, str] = {}
    for layer in layers:
        for key, raw in layer.values.items():
            where = f"{layer.table}.{key}" if layer.table else key
            line = layer.lines.get(key)
            if key not in declared:
                known = f"declared: {', '.join(declared)}" if declared else "it declares none"
                problem = f"case {case!r} has no test param {key!r}; {known}"
                if layer.passthrough and warnings is not None:
                    try:
                        undeclared[key] = Param(
                            type="json" if isinstance(raw, dict | list) else "string"
                        ).coerce(raw)
                    except ValueError as exc:
                        issues.append(Issue(layer.source, where, str(exc), line))
                        continue
                    warnings.append(
                        Issue(layer.source, where, problem + " (passed as given)", line)
                    )
                else:
                    issues.append(Issue(layer.source, where, problem, line))
                continue
            try:
                values[key] = declared[key].coerce(raw)
            except ValueError as exc:
                issues.append(Issue(layer.source, where, str(exc), line))
    if issues:
        raise PlanError(issues)
    return {**{name: values[name] for name in declared if name in values}, **undeclared}


def parse_test_param_flags(pairs: Iterable[str]) -> dict[str, str]:
    """``["a=1", "b=x=y"]`` → ``{"a": "1", "b": "x=y"}``; the last of repeated keys wins."""
    out: dict[str, str] = {}
    issues = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            issues.append(Issue("--tp", pair, "expected key=value, e.g. --tp latency=100ms"))
            continue
        out[key.strip()] = value
    if issues:
        raise PlanError(issues)
    return out
