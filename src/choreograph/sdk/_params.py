"""Typed reading of test params (``TEST_INSTANCE_PARAMS``), with errors a plan author can act on.

Params arrive as strings; the manifest declares their types. A missing or malformed param
is a mistake in the composition or the manifest, so :class:`ParamError` names the param,
the raw value and the type that was expected, instead of surfacing a bare ``ValueError``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from choreograph.errors import InputError
from choreograph.wire.durations import parse_duration

T = TypeVar("T")

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


class ParamError(InputError):
    """A test param is missing, or its value cannot be read as the type asked for."""


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError("expected an integer, e.g. '42'") from None


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError("expected a number, e.g. '0.5' or '1e3'") from None


def _bool(text: str) -> bool:
    word = text.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError("expected true or false (also 1/0, yes/no, on/off)")


class ParamReader:
    """The ``*_param`` accessors of :class:`~choreograph.sdk.RunEnv`, over its ``params``."""

    params: dict[str, str]

    def is_param_set(self, name: str) -> bool:
        """Whether the run sets ``name`` (to any value, even the empty string)."""
        return name in self.params

    def string_param(self, name: str) -> str:
        """The raw value of ``name``; raises :class:`ParamError` when it is not set."""
        try:
            return self.params[name]
        except KeyError:
            known = ", ".join(sorted(self.params)) or "none"
            raise ParamError(
                f"test param {name!r} is not set (params set: {known}); give it a default "
                "in manifest.toml or a value in the composition"
            ) from None

    def int_param(self, name: str) -> int:
        """``name`` as an ``int`` (``"42"``)."""
        return self._convert(name, "int", _int)

    def float_param(self, name: str) -> float:
        """``name`` as a ``float`` (``"0.5"``, ``"1e3"``)."""
        return self._convert(name, "float", _float)

    def bool_param(self, name: str) -> bool:
        """``name`` as a ``bool``: true/false, 1/0, yes/no, on/off (any case)."""
        return self._convert(name, "bool", _bool)

    def duration_param(self, name: str) -> timedelta:
        """``name`` as a Go-style duration (``"150ms"``, ``"1m30s"``; a bare number is seconds)."""
        return self._convert(name, "duration", parse_duration)

    def json_param(self, name: str) -> Any:
        """``name`` decoded as JSON (lists, objects, numbers: whatever the value holds)."""
        return self._convert(name, "JSON", json.loads)

    def _convert(self, name: str, kind: str, parse: Callable[[str], T]) -> T:
        raw = self.string_param(name)
        try:
            return parse(raw)
        except ValueError as exc:
            raise ParamError(
                f"test param {name!r} = {raw!r} is not a valid {kind}: {exc}"
            ) from None
