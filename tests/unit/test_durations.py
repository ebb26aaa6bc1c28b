"""One duration grammar for every option: units, compounds, plain seconds, errors."""

from __future__ import annotations

import pytest

from choreograph.cli.durations import parser
from choreograph.durations import format_duration, parse_duration
from choreograph.errors import InputError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("600", 600),  # a plain number stays seconds (--timeout 600)
        ("2.5", 2.5),
        ("500ms", 0.5),
        ("10m", 600),
        ("12h", 43200),
        ("7d", 604800),
        ("2w", 1209600),
        ("1h30m", 5400),
        (" 1.5H ", 5400),
        (0.25, 0.25),
    ],
)
def test_durations_parse_to_seconds(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "7x", "d", "-5s", "-1", "1h 30m", "1.2.3s"])
def test_anything_else_is_refused_with_the_grammar(text: str) -> None:
    with pytest.raises(InputError, match="--timeout"):
        parse_duration(text, "--timeout")


def test_the_option_parser_passes_numbers_through_and_names_the_flag() -> None:
    assert parser("--poll")(0.25) == 0.25
    assert parser("--poll")("250ms") == 0.25
    with pytest.raises(Exception, match="--poll 'x'"):
        parser("--poll")("x")


def test_format_is_the_shortest_exact_reading() -> None:
    assert [format_duration(s) for s in (600, 90, 86400, 0.5)] == ["10m", "90s", "1d", "0.5s"]
