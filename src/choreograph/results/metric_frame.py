"""A run's metric files as one pandas DataFrame, fast enough for thousands of instances.

The reference reader is :mod:`choreograph.results.metrics`: pure Python, one ``json.loads``
and one ``MetricRow`` per line, about 7 µs a line, so 3 s for the 450,000 lines of a
2,000-instance run before pandas has seen a row. Most files hold nothing but the SDK's own
records (and the resource sampler's, in the same format): every line one complete JSON
object, one row or none. Those files are read together by pyarrow's JSON reader (C++,
about 0.5 s for the same run). Everything else goes through the reference reader: sdk-go
files (``measures``), lines that are not JSON, a torn last line, and a whole batch pyarrow
rejects (text where a number belongs, a fractional ``ts``). Both give the same rows in the
same order; ``tests/unit/results/test_metric_frame.py`` holds them to that.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from choreograph.results.metrics import MetricRow, metric_files, read_file

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = list(MetricRow.__dataclass_fields__)
_ORDER = "_file"
"""Helper column: the file a row came from, in reading order (rows are put back in it)."""


def read_frame(
    run_dir: Path, groups: Iterable[str], kinds: Iterable[str] = ("results", "diagnostics")
) -> pd.DataFrame:
    """The rows :func:`metrics.read_run` gives, as a frame with :data:`COLUMNS`."""
    import pandas as pd

    plain: list[tuple[int, str, str, str, Path, bytes]] = []
    slow: list[tuple[int, str, str, str, Path]] = []
    for order, (group, key, path, kind) in enumerate(metric_files(run_dir, groups, kinds)):
        data = path.read_bytes()
        if _plain(data):
            plain.append((order, group, key, kind, path, data))
        else:
            slow.append((order, group, key, kind, path))
    frames = []
    if plain:
        try:
            frames.append(_pyarrow_frame(plain))
        except ValueError:  # pyarrow.ArrowInvalid: let the reference reader decide
            slow.extend(entry[:5] for entry in plain)
    frames.append(_reference_frame(slow))
    frame = pd.concat([f for f in frames if len(f)] or frames[-1:], ignore_index=True)
    frame = frame.sort_values(_ORDER, kind="stable").drop(columns=_ORDER)
    return frame.reset_index(drop=True)


def _plain(data: bytes) -> bool:
    """Every line is one whole JSON object (a first check: pyarrow has the last word), and
    none is sdk-go's (its ``measures`` are many rows per line)."""
    return (
        data.startswith(b"{")
        and data.endswith(b"}\n")
        and data.count(b"\n") == data.count(b"}\n{") + 1
        and b'"measures"' not in data
    )


def _reference_frame(files: list[tuple[int, str, str, str, Path]]) -> pd.DataFrame:
    import pandas as pd

    rows = [
        (order, *(getattr(row, c) for c in COLUMNS))
        for order, group, key, kind, path in files
        for row in read_file(path, group, key, kind)
    ]
    frame = pd.DataFrame(rows, columns=[_ORDER, *COLUMNS])
    return frame.astype({"ts": "int64", "value": "float64", _ORDER: "int64"})


def _pyarrow_frame(files: list[tuple[int, str, str, str, Path, bytes]]) -> pd.DataFrame:
    """The rows of SDK-format files, parsed in one pass; group and instance come from the
    file where a record lacks them, as the reference reader does."""
    import numpy as np
    import pyarrow as pa
    from pyarrow import compute as pc
    from pyarrow import json as pa_json

    text = pa.string()
    schema = pa.schema(
        [("group", text), ("instance", text), ("name", text), ("type", text), ("unit", text),
         ("ts", pa.int64()), ("value", pa.float64())]
    )  # fmt: skip
    table = pa_json.read_json(
        io.BytesIO(b"".join(entry[5] for entry in files)),
        parse_options=pa_json.ParseOptions(
            explicit_schema=schema, unexpected_field_behavior="ignore"
        ),
    )
    lines = np.array([entry[5].count(b"\n") for entry in files])
    # Arrow's nulls, not pandas' NaN: a NaN literal is a value (as json.loads reads it).
    keep = pc.and_(pc.is_valid(table["name"]), pc.is_valid(table["value"])).to_numpy(
        zero_copy_only=False
    )
    frame = table.to_pandas()
    if len(frame) != lines.sum():
        raise ValueError(f"pyarrow read {len(frame)} records from {lines.sum()} lines")

    def per_line(values: list[Any]) -> Any:
        return np.repeat(np.array(values, dtype=object), lines)

    frame[_ORDER] = np.repeat(np.array([entry[0] for entry in files]), lines)
    for column, values in (("group", [e[1] for e in files]), ("instance", [e[2] for e in files])):
        missing = frame[column].isna() | (frame[column] == "")
        if missing.any():
            frame.loc[missing, column] = per_line(values)[missing.to_numpy()]
    frame["kind"] = per_line([entry[3] for entry in files])
    frame = frame[keep].copy()
    frame["type"] = frame["type"].fillna("")
    frame["unit"] = frame["unit"].fillna("")
    frame["ts"] = frame["ts"].fillna(0).astype("int64")
    frame["tags"] = ""
    tagged = frame["name"].str.contains(",", regex=False)
    if tagged.any():
        parts = frame.loc[tagged, "name"].str.partition(",")
        frame.loc[tagged, "name"], frame.loc[tagged, "tags"] = parts[0], parts[2]
    frame["source"] = "choreograph"
    return frame[[_ORDER, *COLUMNS]]
