"""TOML input with positions: parse a file, locate keys by line, explain pydantic errors.

``tomllib`` returns plain values without positions, yet every error Choreograph reports
must name the line to fix. :class:`TomlLocator` re-reads the (already valid) text with a
small scanner that only records where each key path starts. :func:`load_model` is the
one way plan files become pydantic models, so every manifest and composition error is
an :class:`~choreograph.errors.Issue` with file, field path, line, found and expected.

The module is longer than most because the scanner and the error wording belong
together: both speak in TOML paths such as ``("groups", 1, "instances", "count")``.
"""

from __future__ import annotations

import bisect
import contextlib
import re
import tomllib
import types
from collections.abc import Sequence
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, ClassVar, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError
from pydantic.fields import FieldInfo

from choreograph.errors import Issue, PlanError

KeyPath = tuple[str | int, ...]
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_AT_LINE = re.compile(r"\s*\(at line (\d+), column \d+\)$")


class TomlLocator:
    """1-based line of any key path in a TOML text (best effort, never raises)."""

    def __init__(self, text: str) -> None:
        self._lines: dict[KeyPath, int] = {}
        # On a surprise the scanner stops; what it found before is kept.
        with contextlib.suppress(IndexError, ValueError):
            _Scanner(text, self._lines).run()

    def line(self, path: Sequence[str | int]) -> int | None:
        """Line of ``path``, else of its closest enclosing key or table, else ``None``."""
        key = tuple(path)
        while key:
            if key in self._lines:
                return self._lines[key]
            key = key[:-1]
        return None


class _Scanner:
    """Walks valid TOML and records where each key path first appears."""

    def __init__(self, text: str, out: dict[KeyPath, int]) -> None:
        self.s, self.i, self.out = text, 0, out
        self.newlines = [m.start() for m in re.finditer("\n", text)]
        self.arrays: dict[KeyPath, int] = {}  # array-of-tables path -> entries seen

    def mark(self, path: KeyPath, pos: int) -> None:
        for end in range(1, len(path) + 1):
            self.out.setdefault(path[:end], bisect.bisect_left(self.newlines, pos) + 1)

    def run(self) -> None:
        table: KeyPath = ()
        while self.skip(newlines=True) < len(self.s):
            start = self.i
            if self.s.startswith("[[", self.i):
                self.i += 2
                keys = self.key()
                self.i = self.s.index("]]", self.i) + 2
                array = (*self.concrete(keys[:-1]), keys[-1])
                self.arrays[array] = self.arrays.get(array, 0) + 1
                table = (*array, self.arrays[array] - 1)
            elif self.s[self.i] == "[":
                self.i += 1
                table = self.concrete(self.key())
                self.i = self.s.index("]", self.i) + 1
            else:
                path = table + self.key()
                self.mark(path, start)
                self.i = self.s.index("=", self.i) + 1
                self.value(path)
                continue
            self.mark(table, start)

    def concrete(self, keys: KeyPath) -> KeyPath:
        """Header keys → a path that names the latest entry of each array of tables."""
        path: KeyPath = ()
        for k in keys:
            path += (k,)
            if path in self.arrays:
                path += (self.arrays[path] - 1,)
        return path

    def skip(self, newlines: bool = False) -> int:
        while self.i < len(self.s):
            c = self.s[self.i]
            if c in " \t" or (newlines and c in "\r\n"):
                self.i += 1
            elif newlines and c == "#":
                end = self.s.find("\n", self.i)
                self.i = len(self.s) if end < 0 else end
            else:
                break
        return self.i

    def key(self) -> KeyPath:
        parts: list[str | int] = []
        while True:
            self.skip()
            c = self.s[self.i]
            if c in "\"'":
                start = self.i
                self.string()
                raw = self.s[start + 1 : self.i - 1]
                parts.append(raw.replace('\\"', '"').replace("\\\\", "\\") if c == '"' else raw)
            else:
                m = _BARE_KEY.match(self.s, self.i)
                if not m:
                    raise ValueError("no key")
                parts.append(m.group())
                self.i = m.end()
            self.skip()
            if self.s[self.i] != ".":
                return tuple(parts)
            self.i += 1

    def string(self) -> None:
        quote = self.s[self.i]
        delim = quote * 3 if self.s.startswith(quote * 3, self.i) else quote
        self.i += len(delim)
        while not self.s.startswith(delim, self.i):
            self.i += 2 if quote == '"' and self.s[self.i] == "\\" else 1
        self.i += len(delim)
        while delim != quote and self.s.startswith(quote, self.i):
            self.i += 1  # a multi-line string may end with up to two extra quotes

    def value(self, path: KeyPath) -> None:
        c = self.s[self.skip()]
        if c in "\"'":
            self.string()
        elif c in "[{":
            self.i += 1
            index = 0
            while self.s[self.skip(newlines=True)] not in "]}":
                if c == "[":
                    self.mark((*path, index), self.i)
                    self.value((*path, index))
                    index += 1
                else:
                    start, sub = self.i, path + self.key()
                    self.mark(sub, start)
                    self.i = self.s.index("=", self.i) + 1
                    self.value(sub)
                if self.s[self.skip(newlines=True)] == ",":
                    self.i += 1
            self.i += 1
        else:
            while self.i < len(self.s) and self.s[self.i] not in ",]}\r\n#":
                self.i += 1


class TomlModel(BaseModel):
    """Base of every plan-file model: unknown keys rejected, no silent type coercion.

    ``UNSUPPORTED`` names keys Testground defines that Choreograph does not implement
    yet, so they are reported as such instead of as unknown keys.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)
    UNSUPPORTED: ClassVar[frozenset[str]] = frozenset()
    _source: str = PrivateAttr(default="")
    _locator: TomlLocator | None = PrivateAttr(default=None)

    @property
    def source(self) -> str:
        """The file this model was loaded from ("" when built in code)."""
        return self._source

    def line(self, *path: str | int) -> int | None:
        return self._locator.line(path) if self._locator else None

    def issue(self, path: KeyPath, problem: str) -> Issue:
        """An Issue about the key at ``path`` of this file, with its line."""
        return Issue(self.source, format_field(path), problem, self.line(*path))

    def check(self) -> list[Issue]:
        """Checks across fields, run once the file is loaded (so issues carry lines)."""
        return []


M = TypeVar("M", bound=TomlModel)


def load_model(path: Path, model: type[M]) -> M:
    """Read, parse and validate ``path`` as ``model``; every problem becomes one PlanError."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise PlanError(Issue(source, "(file)", f"cannot read the file: {reason}")) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PlanError(decode_issue(source, text, exc)) from None
    locator = TomlLocator(text)
    try:
        result = model.model_validate(data)
    except ValidationError as exc:
        raise PlanError(validation_issues(exc, model, source, locator)) from None
    result._source, result._locator = source, locator
    issues = result.check()
    if issues:
        raise PlanError(issues)
    return result


def decode_issue(source: str, text: str, exc: tomllib.TOMLDecodeError) -> Issue:
    message = str(exc)
    found = _AT_LINE.search(message)
    problem = f"not valid TOML: {_AT_LINE.sub('', message)}"
    if "{{" in text:
        problem += " (templated compositions with {{ … }} are not supported yet)"
    return Issue(source, "(syntax)", problem, int(found.group(1)) if found else None)


def validation_issues(
    error: ValidationError, model: type[BaseModel], source: str, locator: TomlLocator
) -> list[Issue]:
    """One Issue per pydantic error, worded in TOML terms with the line of the key."""
    issues = []
    for err in error.errors(include_url=False):
        loc: KeyPath = tuple(err["loc"])
        issues.append(
            Issue(source, format_field(loc), _problem(model, loc, err), locator.line(loc))
        )
    return sorted(issues, key=lambda i: i.line or 0)  # in file order, as a reader fixes them


def format_field(path: Sequence[str | int]) -> str:
    """``("groups", 1, "instances")`` → ``groups#2.instances`` (entries counted from 1)."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"#{part + 1}"
        else:
            out += ("." if out else "") + (part if _BARE_KEY.fullmatch(part) else f'"{part}"')
    return out or "(top level)"


def describe_table(path: Sequence[str | int]) -> str:
    """How a TOML author names the table at ``path``: ``[[groups]] #2``, ``[global.run]``."""
    names = format_field([p for p in path if isinstance(p, str)])
    if not path:
        return "the top level"
    if isinstance(path[-1], int):
        return f"[[{names}]] #{path[-1] + 1}"
    return f"[{names}]"


def describe_value(value: object) -> str:
    """A found value as the user wrote it, with its TOML type: ``'ten' (string)``."""
    if isinstance(value, bool):
        return f"{str(value).lower()} (boolean)"
    if isinstance(value, str):
        return f"{value!r} (string)"
    if isinstance(value, int):
        return f"{value} (integer)"
    if isinstance(value, float):
        return f"{value} (float)"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, datetime | date | time):
        return f"{value.isoformat()} (date/time)"
    return repr(value)


_EXPECTED_BY_ERROR = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "string_type": "a string",
    "bool_type": "true or false",
    "dict_type": "a table",
    "model_type": "a table",
    "list_type": "an array",
}
_KIND = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
_BOUNDS = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<"}


def _problem(model: type[BaseModel], loc: KeyPath, err: Any) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        owner = _resolve(model, loc[:-1])
        where = describe_table(loc[:-1])
        if isinstance(owner, type) and issubclass(owner, TomlModel):
            if loc[-1] in owner.UNSUPPORTED:
                return (
                    f"key {loc[-1]!r} in {where} is part of Testground's format "
                    "but not supported by Choreograph yet"
                )
            keys = ", ".join(f.alias or n for n, f in owner.model_fields.items())
            return f"unknown key {loc[-1]!r} in {where}; expected one of: {keys}"
        return f"unknown key {loc[-1]!r} in {where}"
    if kind == "missing":
        return f"missing required key {loc[-1]!r} in {describe_table(loc[:-1])}"
    if kind == "too_short":
        found = err["ctx"]["actual_length"]
        return f"expected at least {err['ctx']['min_length']} entry, found {found or 'none'}"
    if kind == "list_type" and isinstance(err.get("input"), dict):
        name = format_field([p for p in loc if isinstance(p, str)])
        return f"expected [[{name}]] entries (an array of tables), found a single table"
    if kind in ("value_error", "assertion_error"):
        return str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    info = _field(model, loc)
    expected = _expected(info) if info else None
    expected = expected or _EXPECTED_BY_ERROR.get(kind) or str(err["msg"]).lower()
    return f"expected {expected}, found {describe_value(err.get('input'))}"


def _expected(info: FieldInfo) -> str | None:
    """``an integer ≥ 1``, ``a number in [0.0, 1.0]``: the kind plus the field's bounds."""
    base = _unwrap_optional(info.annotation)
    text = _KIND.get(base) if isinstance(base, type) else None
    if text is None:
        return None
    bounds = {a: getattr(m, a) for m in info.metadata for a in _BOUNDS if hasattr(m, a)}
    lower = [(a, v) for a, v in bounds.items() if a in ("ge", "gt")]
    upper = [(a, v) for a, v in bounds.items() if a in ("le", "lt")]
    if lower and upper:
        (lo_kind, lo), (hi_kind, hi) = lower[0], upper[0]
        text += f" in {'[' if lo_kind == 'ge' else '('}{lo}, {hi}{']' if hi_kind == 'le' else ')'}"
    else:
        text += "".join(f" {_BOUNDS[a]} {v}" for a, v in bounds.items())
    if base is str and any(getattr(m, "min_length", 0) for m in info.metadata):
        text = "a non-empty string"
    return text


def _field(model: type[BaseModel], loc: KeyPath) -> FieldInfo | None:
    owner = _resolve(model, loc[:-1])
    if loc and isinstance(owner, type) and issubclass(owner, BaseModel):
        for name, info in owner.model_fields.items():
            if loc[-1] in (name, info.alias):
                return info
    return None


def _resolve(tp: Any, loc: KeyPath) -> Any:
    """The type found at ``loc`` when walking down from ``tp`` (``None`` when lost)."""
    for part in loc:
        tp = _unwrap_optional(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            info = _field(tp, (part,))
            tp = info.annotation if info else None
        elif get_origin(tp) in (list, tuple) and isinstance(part, int):
            tp = get_args(tp)[0]
        elif get_origin(tp) is dict and isinstance(part, str):
            tp = get_args(tp)[1]
        else:
            return None
    return _unwrap_optional(tp)


def _unwrap_optional(tp: Any) -> Any:
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else tp
    return tp
