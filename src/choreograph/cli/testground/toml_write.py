"""TOML text from plain data (str, int, float, bool, lists, tables): the compositions the
``testground`` command writes (the synthetic one of ``run single``, a composition with
``.env.toml`` settings merged in, ``--write-artifacts``). The standard library reads TOML
but does not write it, and these documents need nothing beyond this."""

from __future__ import annotations

import json
import math
import re
from typing import Any

_BARE = re.compile(r"[A-Za-z0-9_-]+")


def dumps(document: dict[str, Any]) -> str:
    out: list[str] = []
    _table(document, (), out, None)
    return "\n".join(out).lstrip("\n") + "\n"


def _table(
    table: dict[str, Any], path: tuple[str, ...], out: list[str], header: str | None
) -> None:
    nested = {k: v for k, v in table.items() if isinstance(v, dict)}
    arrays = {k: v for k, v in table.items() if _is_table_array(v)}
    plain = {k: v for k, v in table.items() if k not in nested and k not in arrays}
    # A table's header is needed for its own keys, for an array item, or to exist at all.
    if header is not None and (plain or header.startswith("[[") or not (nested or arrays)):
        out.append("\n" + header)
    out.extend(f"{_key(k)} = {_value(v)}" for k, v in plain.items())
    for key, sub in nested.items():
        _table(sub, (*path, key), out, f"[{_dotted((*path, key))}]")
    for key, items in arrays.items():
        for item in items:
            _table(item, (*path, key), out, f"[[{_dotted((*path, key))}]]")


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _dotted(path: tuple[str, ...]) -> str:
    return ".".join(_key(p) for p in path)


def _key(key: str) -> str:
    return key if _BARE.fullmatch(key) else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} {value!r} as TOML")
