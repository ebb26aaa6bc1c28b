from datetime import timedelta

import pytest

from choreograph.errors import InputError
from choreograph.sdk import ParamError
from choreograph.sdk._params import ParamReader


def _reader(**params: str) -> ParamReader:
    reader = ParamReader()
    reader.params = dict(params)
    return reader


def test_typed_values() -> None:
    r = _reader(n="42", f="0.5", b="TRUE", off="0", d="1m30s", secs="2", j='{"a": [1, 2]}', s="x y")
    assert r.int_param("n") == 42
    assert r.float_param("f") == 0.5
    assert r.bool_param("b") is True and r.bool_param("off") is False
    assert r.duration_param("d") == timedelta(seconds=90)
    assert r.duration_param("secs") == timedelta(seconds=2)
    assert r.json_param("j") == {"a": [1, 2]}
    assert r.string_param("s") == "x y"


def test_is_param_set_counts_empty_values() -> None:
    r = _reader(empty="")
    assert r.is_param_set("empty") and not r.is_param_set("other")
    assert r.string_param("empty") == ""


def test_missing_param_names_it_and_the_params_that_are_set() -> None:
    with pytest.raises(ParamError, match=r"'count' is not set \(params set: a, b\)"):
        _reader(b="1", a="2").int_param("count")


@pytest.mark.parametrize(
    ("accessor", "raw", "expected"),
    [
        ("int_param", "4.5", "is not a valid int: expected an integer"),
        ("float_param", "fast", "is not a valid float: expected a number"),
        ("bool_param", "maybe", "is not a valid bool: expected true or false"),
        ("duration_param", "10 parsecs", "is not a valid duration: invalid duration"),
        ("json_param", "{nope", "is not a valid JSON: Expecting property name"),
    ],
)
def test_malformed_param_names_param_raw_value_and_type(
    accessor: str, raw: str, expected: str
) -> None:
    with pytest.raises(ParamError) as info:
        getattr(_reader(p=raw), accessor)("p")
    message = str(info.value)
    assert f"test param 'p' = {raw!r} " in message
    assert expected in message
    assert isinstance(info.value, InputError)
