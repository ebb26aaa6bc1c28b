"""Test params: each type's canonical spelling, precedence of sources, and rejections."""

from __future__ import annotations

from typing import Any

import pytest

from choreograph.errors import PlanError
from choreograph.plan import Param, ParamLayer, parse_test_param_flags, resolve_params
from choreograph.wire.env import decode_params, encode_params


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("int", 5, "5"),
        ("int", " 7 ", "7"),
        ("int", "-3", "-3"),
        ("float", 0.25, "0.25"),
        ("float", 2, "2"),
        ("float", "1e-3", "1e-3"),
        ("bool", True, "true"),
        ("bool", False, "false"),
        ("bool", "True", "true"),  # Go's strconv.ParseBool spellings, as plans write them
        ("bool", "F", "false"),
        ("bool", "1", "true"),
        ("string", "hello world", "hello world"),
        ("string", 42, "42"),
        ("string", True, "true"),
        ("duration", "150ms", "150ms"),
        ("duration", "1m30s", "1m30s"),
        ("duration", "0", "0"),
        ("duration", "30", "30s"),  # a bare number is seconds, written the Go way
        ("duration", 1.5, "1500ms"),
        ("duration", 90, "90s"),
        ("json", {"id": "blocks", "rate": [1, 2]}, '{"id":"blocks","rate":[1,2]}'),
        ("json", [1, "a"], '[1,"a"]'),
        ("json", '{"id": "blocks"}', '{"id": "blocks"}'),  # text kept as written
        ("json", True, "true"),
        ("size", "1GiB", "1GiB"),
        ("size", "64 KB", "64 KB"),
        ("size", 4096, "4096"),
    ],
)
def test_values_get_their_canonical_spelling(kind: str, value: Any, expected: str) -> None:
    assert Param(type=kind).coerce(value) == expected


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("int", "ten", "expected an integer, found 'ten' (string)"),
        ("int", 5.5, "expected an integer, found 5.5 (float)"),
        ("int", "5.0", "expected an integer, found '5.0' (string)"),
        ("int", True, "expected an integer, found true (boolean)"),
        ("float", "fast", "expected a number, found 'fast' (string)"),
        ("float", "1_000", "expected a number"),
        ("bool", "yes", "expected true or false, found 'yes' (string)"),
        ("bool", 1, "expected true or false, found 1 (integer)"),
        ("duration", "fast", "expected a duration such as '150ms' or '1m30s', found 'fast'"),
        ("duration", "10 parsecs", "expected a duration"),
        ("json", "{not json", "expected JSON text, found '{not json' (string)"),
        ("size", "lots", "expected a byte size"),
        ("size", -1, "expected a byte size"),
        ("string", "a|b", "contains '|'"),
        ("json", {"a": "x|y"}, "contains '|'"),
    ],
)
def test_bad_values_say_expected_and_found(kind: str, value: Any, expected: str) -> None:
    with pytest.raises(ValueError, match="^" + expected.replace("(", r"\(").replace(")", r"\)")):
        Param(type=kind).coerce(value)


def test_enum_accepts_only_its_values() -> None:
    param = Param(type="enum", values=["noise", "tls"])
    assert param.coerce("tls") == "tls"
    with pytest.raises(ValueError, match="expected one of noise, tls, found 'secio' \\(string\\)"):
        param.coerce("secio")


def test_canonical_values_survive_the_environment_encoding() -> None:
    declared = {"topics": Param(type="json"), "on": Param(type="bool"), "d": Param(type="duration")}
    layer = ParamLayer("c.toml", "t", {"topics": {"a": "b=c"}, "on": "True", "d": 2})
    params = resolve_params(declared, [layer], case="x")
    assert decode_params(encode_params(params)) == {
        "topics": '{"a":"b=c"}',
        "on": "true",
        "d": "2s",
    }


DECLARED = {
    "a": Param(type="int", default=1),
    "b": Param(type="int", default=1),
    "c": Param(type="int", default=1),
    "d": Param(type="int", default=1),
    "no_default": Param(type="string"),
}


def test_later_layers_win_and_order_follows_the_manifest() -> None:
    layers = [
        ParamLayer("c.toml", "global.run.test_params", {"d": 2, "c": 2, "b": 2}),
        ParamLayer("c.toml", "groups#1.run.test_params", {"d": "3", "c": 3}),
        ParamLayer("--tp", "", {"d": "4"}),
    ]
    params = resolve_params(DECLARED, layers, case="x")
    assert params == {"a": "1", "b": "2", "c": "3", "d": "4"}
    assert list(params) == ["a", "b", "c", "d"]


def test_params_without_default_are_omitted_unless_set() -> None:
    assert "no_default" not in resolve_params(DECLARED, [], case="x")
    layer = ParamLayer("--tp", "", {"no_default": "hi"})
    assert resolve_params(DECLARED, [layer], case="x")["no_default"] == "hi"


def test_undeclared_param_is_an_error_listing_declared_ones() -> None:
    layer = ParamLayer("c.toml", "groups#2.run.test_params", {"latncy": "1"}, {"latncy": 17})
    with pytest.raises(PlanError) as err:
        resolve_params(DECLARED, [layer], case="ping")
    (issue,) = err.value.issues
    assert (issue.source, issue.field, issue.line) == (
        "c.toml",
        "groups#2.run.test_params.latncy",
        17,
    )
    assert (
        issue.problem == "case 'ping' has no test param 'latncy'; declared: a, b, c, d, no_default"
    )


def test_undeclared_param_when_the_case_declares_none() -> None:
    with pytest.raises(PlanError, match="has no test param 'x'; it declares none"):
        resolve_params({}, [ParamLayer("--tp", "", {"x": "1"})], case="c")


def test_every_bad_value_is_reported_at_once() -> None:
    layers = [
        ParamLayer("c.toml", "global.run.test_params", {"a": "one"}, {"a": 3}),
        ParamLayer("--tp", "", {"b": "two", "zz": "1"}),
    ]
    with pytest.raises(PlanError) as err:
        resolve_params(DECLARED, layers, case="x")
    got = [(i.source, i.field, i.line) for i in err.value.issues]
    assert got == [
        ("c.toml", "global.run.test_params.a", 3),
        ("--tp", "b", None),
        ("--tp", "zz", None),
    ]
    assert "expected an integer, found 'one' (string)" in err.value.issues[0].problem


def test_tp_flags_parse() -> None:
    assert parse_test_param_flags(["a=1", "b=x=y", "a=2", "c="]) == {"a": "2", "b": "x=y", "c": ""}


@pytest.mark.parametrize("bad", ["novalue", "=1"])
def test_tp_flags_need_key_and_equals(bad: str) -> None:
    with pytest.raises(PlanError) as err:
        parse_test_param_flags([bad])
    issue = err.value.issues[0]
    assert (issue.source, issue.field) == ("--tp", bad)
    assert "expected key=value" in issue.problem
