"""``choreo results`` (tables and exports) and ``choreo report`` (one HTML file)."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from choreograph.cli import render
from choreograph.cli.options import JsonOption
from choreograph.cli.render_results import frame_table
from choreograph.cli.reporting import reported
from choreograph.config import load_settings


class Format(StrEnum):
    table = "table"
    csv = "csv"
    parquet = "parquet"


class Which(StrEnum):
    summary = "summary"
    metrics = "metrics"
    resources = "resources"
    events = "events"
    outcomes = "outcomes"


def results(
    run: Annotated[str, typer.Argument(help="Run id (or unique prefix), run folder, or latest.")],
    metric: Annotated[str | None, typer.Option("--metric", "-m", help="Only this metric.")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.table,
    table: Annotated[
        Which | None,
        typer.Option(
            "--table",
            help="Which table (default: summary for table and --json, metrics for "
            "csv and parquet).",
        ),
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to FILE.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Per-group summary of a run's metrics (count, mean, p50, p90, p99, min, max), or an
    export of its tables as CSV or Parquet (or, with --json, one JSON document)."""
    from choreograph.results import load
    from choreograph.results.summary import summarize

    with reported():
        data = load(run, load_settings().runs_dir)
    which = table or (Which.summary if fmt is Format.table or as_json else Which.metrics)
    if which is Which.summary:
        frame = summarize(data.metrics, metric)
    else:
        frame = getattr(data, which.value)
        if metric is not None and "name" in frame.columns:
            frame = frame[frame["name"] == metric]
    if as_json:
        rows = json.loads(frame.to_json(orient="records", date_format="iso"))
        document = {"run_id": data.run_id, "status": data.status, "table": which.value}
        render.print_json({**document, "rows": rows})
    elif fmt is Format.table:
        if frame.empty:
            what = f"metric {metric!r}" if metric else "metrics"
            render.console.print(f"run {data.run_id} recorded no {what}")
            raise typer.Exit(1 if metric else 0)
        frame_table(frame, title=f"run {data.run_id} ({data.status}): {which.value}")
    elif fmt is Format.csv:
        text = frame.to_csv(index=False)
        if output is None:
            typer.echo(text, nl=False)
        else:
            output.write_text(text)
    else:
        target = output or Path(f"{data.run_id}-{which.value}.parquet")
        frame.to_parquet(target, index=False)
        render.console.print(f"wrote {target} ({len(frame)} rows)")


def report(
    run: Annotated[
        str, typer.Argument(help="Run or series id (or unique prefix), folder, or latest.")
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="HTML file (default: report-<id>.html here)."),
    ] = None,
) -> None:
    """Write one self-contained HTML report of a run (outcomes, a timeline, each metric
    drawn by its type, CPU and memory over time, log tails of failures; past 24
    instances a group, per-group p5-p95 bands) or of a series."""
    from choreograph.results.locate import locate

    with reported():
        found = locate(run, load_settings().home)
        text, name = found.report()
    target = output or Path(f"{name}.html")
    target.write_text(text, encoding="utf-8")
    render.console.print(f"wrote {target} ({len(text) // 1024} KiB)")


def register(app: typer.Typer) -> None:
    app.command("results")(results)
    app.command("report")(report)
