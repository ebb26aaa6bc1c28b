import pytest

from choreograph.wire.durations import format_duration, parse_duration, parse_duration_ns


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("150ms", 150_000_000),
        ("1h2m3.5s", 3_723_500_000_000),
        ("10us", 10_000),
        ("10µs", 10_000),
        ("2", 2_000_000_000),
        ("0", 0),
        ("-1s", -1_000_000_000),
        (".5s", 500_000_000),
    ],
)
def test_parse(text: str, ns: int) -> None:
    assert parse_duration_ns(text) == ns


@pytest.mark.parametrize("bad", ["", "ms", "1x", "1s2", "s1", "1 s"])
def test_rejects_with_expected_form(bad: str) -> None:
    with pytest.raises(ValueError, match=r"expected e\.g\."):
        parse_duration_ns(bad)


def test_format_round_trips() -> None:
    for ns in (0, 1, 1_500, 1_500_000_000, 3_600_000_000_000, 90_000_000_000):
        assert parse_duration_ns(format_duration(ns)) == ns
    assert parse_duration("1500ms").total_seconds() == 1.5
