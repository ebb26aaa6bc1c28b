"""Terminal rendering of results: summary tables, comparisons, series, merged log lines."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

from choreograph.cli.render import console
from choreograph.results.merged_log import LogLine, describe

if TYPE_CHECKING:
    import pandas as pd

    from choreograph.results.comparison import Quantile, Sides
    from choreograph.results.stats import Comparison
    from choreograph.series import SeriesState


def number(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if value.is_integer() and abs(value) < 1e12:
            return str(int(value))
        return f"{value:.4g}" if 1e-3 <= abs(value) < 1e5 else f"{value:.4e}"
    return str(value)


def frame_table(frame: pd.DataFrame, title: str | None = None) -> None:
    """Any DataFrame as a rich table, numbers to four significant digits."""
    table = Table(title=title, show_edge=False, pad_edge=False, title_justify="left")
    for column in frame.columns:
        numeric = frame[column].dtype.kind in "iuf"
        table.add_column(str(column), justify="right" if numeric else "left")
    for row in frame.itertuples(index=False):
        table.add_row(*(number(v) for v in row))
    console.print(table)  # piped, the console has no width limit (see render.py)


def log_line(line: LogLine, with_instance: bool = True) -> None:
    """``time  instance  #seq  text`` with out-of-sequence flags in red."""
    stamp = (
        datetime.fromtimestamp(line.sort_ts / 1e9, UTC).strftime("%H:%M:%S.%f")
        if line.sort_ts
        else " " * 15
    )
    text = Text(stamp + "  ", style="dim")
    if with_instance:
        text.append(f"{line.instance:<12} ", style="cyan")
    seq = line.event.seq if line.event is not None else None
    text.append(f"#{seq:<4} " if seq is not None else "      ", style="dim")
    if line.event is not None:
        style = {"failure": "red", "crash": "bold red", "success": "green"}.get(line.event.kind, "")
        text.append(describe(line.event), style=style)
    else:
        text.append(line.text)
    for flag in line.flags:
        text.append(f"  !! out of sequence: {flag}", style="bold red")
    console.print(text, soft_wrap=True)


def series_line(state: SeriesState) -> None:
    """One line after each run of a series: where the estimate stands."""
    n = len(state.results)
    head = f"series {state.series_id}: run {n}"
    interval, metric = state.interval, state.plan.metric
    if metric is None or interval is None:
        console.print(Text.assemble((head, "bold"), " done"))
        return
    rel = interval.relative_half_width
    target = f" (target {state.plan.rel_ci:.2%})" if state.plan.until_stable else ""
    spread = f"± {interval.half_width:.4g} = {rel:.2%} of the mean" if n > 1 else "(one run)"
    console.print(
        Text.assemble((head, "bold"), f": {metric} mean {interval.mean:.4g} {spread}{target}")
    )


def series_summary(state: SeriesState) -> None:
    """The end of a series: runs made, interval, normality, why it stopped."""
    interval, normal = state.interval, state.normality
    style = {"stable": "green", "done": "green", "max-runs": "yellow"}.get(state.status, "red")
    console.print(
        Text.assemble(
            (f"series {state.series_id}", "bold"),
            " ",
            (state.status, style),
            f": {state.stop_reason}; {len(state.results)} runs",
        )
    )
    if interval is not None and state.plan.metric:
        low, high = number(interval.low), number(interval.high)
        console.print(
            f"  {state.plan.metric}: mean of per-run means {interval.mean:.4g}, "
            f"{interval.confidence:.0%} CI [{low}, {high}] (Student t, n = {interval.n}), "
            f"half-width {interval.relative_half_width:.2%} of the mean"
        )
    if normal is not None:
        reading = "no evidence against normality" if normal.normal else "NOT normal: the t "
        reading += "" if normal.normal else "interval may be off; more runs help"
        console.print(
            f"  per-run means: {normal.test} W = {normal.statistic:.3f}, p = {normal.p:.3g} "
            f"({reading})"
        )
    elif state.plan.metric:
        console.print("  per-run means: normality not checked (needs ≥ 3 distinct means)")
    console.print(f"  report: choreo report {state.series_id}")


def comparison(sides: Sides, c: Comparison, why: str, quantiles: Sequence[Quantile] = ()) -> None:
    """The comparison as a few aligned lines, the verdict last."""
    unit = f" {sides.unit}" if sides.unit else ""
    pct = f"{c.a.confidence:.0%}"
    for tag, label, side in (("A", sides.label_a, c.a), ("B", sides.label_b, c.b)):
        console.print(
            f"{tag}: {label}  n = {side.n} {sides.unit_of_sample}s  mean {number(side.mean)}"
            f"{unit}  {pct} CI [{number(side.low)}, {number(side.high)}]"
        )
    console.print(
        f"difference B - A: {number(c.difference)}{unit}  {pct} CI "
        f"[{number(c.low)}, {number(c.high)}]  relative {c.relative:+.2%}",
        soft_wrap=True,
    )
    for q in quantiles:
        console.print(
            f"{q.name} (all samples): A {number(q.a)}{unit}  B {number(q.b)}{unit}  "
            f"B - A {number(q.difference)}{unit}  relative {q.relative:+.2%}",
            soft_wrap=True,
        )
    console.print(
        f"Welch's t = {c.welch_t:.3f} (df {c.welch_df:.1f}), p = {c.welch_p:.3g};  "
        f"Mann-Whitney U = {c.mann_whitney_u:g}, p = {c.mann_whitney_p:.3g}"
    )
    console.print(Text(why, style="dim"), soft_wrap=True)
    if sides.note:
        console.print(Text(f"note: this test {sides.note}", style="yellow"), soft_wrap=True)
    style = "yellow" if c.significant else "green"
    console.print(Text(f"verdict: {c.verdict('A', 'B')}", style=f"bold {style}"))
    if not c.tests_agree:
        console.print(Text("note: Mann-Whitney disagrees with Welch at this alpha", style="yellow"))
