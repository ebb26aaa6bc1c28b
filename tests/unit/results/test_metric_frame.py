"""The fast metric frame gives exactly the rows of the reference reader, in its order."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import astuple
from pathlib import Path

import pandas as pd
import pytest

from choreograph.results import metric_frame, metrics

SDK = (
    '{"run":"r","group":"g","instance":"g/%d",'
    '"name":"%s","type":"%s","unit":"%s","ts":%s,"value":%s}\n'
)


def sdk_lines(index: int, *records: tuple[str, str, str, str, str]) -> str:
    return "".join(SDK % (index, *record) for record in records)


def reference(run_dir: Path, groups: list[str], kinds: tuple[str, ...]) -> list[tuple[object, ...]]:
    return [astuple(row) for row in metrics.read_run(run_dir, groups, kinds)]


def fast(run_dir: Path, groups: list[str], kinds: tuple[str, ...]) -> list[tuple[object, ...]]:
    frame = metric_frame.read_frame(run_dir, groups, kinds)
    assert list(frame.columns) == metric_frame.COLUMNS
    return list(frame.itertuples(index=False, name=None))


def same(a: list[tuple[object, ...]], b: list[tuple[object, ...]]) -> None:
    """Equal rows, NaN equal to NaN."""
    assert len(a) == len(b)
    for left, right in zip(a, b, strict=True):
        assert [x if x == x else "nan" for x in left] == [x if x == x else "nan" for x in right]


def write(run_dir: Path, key: str, name: str, text: str) -> None:
    folder = run_dir / key
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)


def test_plain_and_awkward_files_read_as_the_reference_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "g/0", "results.out", sdk_lines(0,
        ("lat", "timer", "ms", "1", "1.5"),
        ("hits", "counter", "", "2", "3"),           # an integer value
        ("rtt,peer=3,dc=x", "point", "s", "3", "0.25"),  # InfluxDB tags
        ("bad", "gauge", "", "4", "null"),           # NaN, as the SDK writes it: no row
        ("nan", "gauge", "", "5", "NaN"),            # a NaN literal: a NaN row
    ))  # fmt: skip
    write(tmp_path, "g/0", "resources.out", sdk_lines(0, ("cpu_percent", "gauge", "%", "6", "50")))
    write(tmp_path, "g/1", "results.out",
          '{"name":"no-group","value":2,"ts":7}\n{"name":"untyped","value":1,"type":null}\n'
          '{"group":"","instance":"","name":"empty","value":4,"ts":8}\n'
          '{"value":1}\n{"name":"x","ts":9}\n')  # fmt: skip
    torn = '{"name": "to'  # killed mid-line
    write(tmp_path, "g/2", "results.out", sdk_lines(2, ("a", "gauge", "", "1", "1")) + torn)
    text = "plain text\n"
    write(tmp_path, "g/3", "results.out", text + sdk_lines(3, ("b", "gauge", "", "1", "2")))
    go = {"ts": 1, "type": "histogram", "name": "size", "measures": {"p50": 2.0, "count": 3}}
    write(tmp_path, "g/4", "results.out", json.dumps(go) + "\n")
    write(tmp_path, "g/10", "diagnostics.out", sdk_lines(10, ("q", "gauge", "", "1", "7")))
    write(tmp_path, "g/5", "results.out", "")
    service = tmp_path / "services" / "collector" / "0"
    service.mkdir(parents=True)
    (service / "metrics.out").write_text('{"name":"received","value":9,"ts":3}\n')
    slow: list[str] = []

    def spy(path: Path, *args: str) -> Iterator[metrics.MetricRow]:
        slow.append(f"{path.parent.name}/{path.name}")
        return metrics.read_file(path, *args)

    monkeypatch.setattr(metric_frame, "read_file", spy)
    kinds_all = ("results", "diagnostics", "resources")
    for kinds in (("results", "diagnostics"), ("resources",), kinds_all):
        expected = reference(tmp_path, ["g", "absent"], kinds)
        assert expected, kinds
        same(fast(tmp_path, ["g", "absent"], kinds), expected)
    # Only the files that are not plain SDK lines took the slow road.
    assert set(slow) == {"2/results.out", "3/results.out", "4/results.out", "5/results.out"}


@pytest.mark.parametrize(
    "line",
    [
        '{"name":"a","value":"text","ts":1}\n',  # text where a number belongs
        '{"name":"a","value":true,"ts":1}\n',
        '{"name":"a","value":1,"ts":1.5}\n',  # a fractional ts
        '{"name":"a","value":1,"ts":1,"unit":7}\n',
        '{"name":"a",broken}\n',
    ],
)
def test_a_batch_pyarrow_rejects_goes_through_the_reference_reader(
    tmp_path: Path, line: str
) -> None:
    write(tmp_path, "g/0", "results.out", sdk_lines(0, ("lat", "timer", "ms", "1", "1.5")))
    write(tmp_path, "g/1", "results.out", line)
    expected = reference(tmp_path, ["g"], ("results",))
    same(fast(tmp_path, ["g"], ("results",)), expected)


def test_no_files_give_an_empty_frame_with_the_columns(tmp_path: Path) -> None:
    frame = metric_frame.read_frame(tmp_path, ["g"], ("results",))
    assert frame.empty and list(frame.columns) == metric_frame.COLUMNS
    assert pd.api.types.is_float_dtype(frame["value"])
