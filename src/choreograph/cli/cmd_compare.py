"""``choreo compare``: is B different from A on a metric? (runs, series, or two groups)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from choreograph.cli import render
from choreograph.cli.render_results import comparison
from choreograph.cli.reporting import reported
from choreograph.config import load_settings


def compare(
    a: Annotated[str, typer.Argument(help="Run or series (id, prefix, folder or latest): A.")],
    b: Annotated[str | None, typer.Argument(help="Run or series: B (omit with --groups).")] = None,
    metric: Annotated[str, typer.Option("--metric", "-m", help="Metric to compare.")] = "",
    groups: Annotated[
        tuple[str, str] | None,
        typer.Option("--groups", help="Compare two groups G1 G2 of run A instead."),
    ] = None,
    alpha: Annotated[float, typer.Option(help="Significance level.")] = 0.05,
    confidence: Annotated[float, typer.Option(help="Confidence of the intervals.")] = 0.95,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write FILE.html (report) or FILE.png (plot)."),
    ] = None,
    fail_above: Annotated[
        float | None,
        typer.Option(
            "--fail-above",
            metavar="PCT",
            help="Exit 1 when B's mean is significantly higher than A's by more than PCT "
            "percent (a regression of a latency, a duration).",
        ),
    ] = None,
    fail_below: Annotated[
        float | None,
        typer.Option(
            "--fail-below",
            metavar="PCT",
            help="Exit 1 when B's mean is significantly lower than A's by more than PCT "
            "percent (a regression of a throughput, a rate).",
        ),
    ] = None,
) -> None:
    """Difference of means with its confidence interval, relative change, Welch's t-test
    (the verdict) and Mann-Whitney U, p50 and p99 differences, and a side-by-side plot.
    Runs are compared by their per-instance means (a series by its per-run means): the
    samples of one instance are not independent. Exit 0, or 1 when a significant change
    goes beyond --fail-above or --fail-below (2: bad input)."""
    from choreograph.results import comparison as cmp

    if not metric:
        render.error("--metric NAME is required (`choreo results RUN` lists the metrics)")
        raise typer.Exit(2)
    settings = load_settings()
    with reported():
        sides = cmp.sides(settings.home, a, b, metric, list(groups) if groups else None)
        result = cmp.run(sides, alpha, confidence)
    comparison(sides, result, cmp.WHY, cmp.quantiles(sides))
    failed = cmp.regression(result, fail_above, fail_below)
    png = cmp.plot(sides)
    if output is not None and output.suffix.lower() in (".html", ".htm"):
        output.write_text(cmp.page(sides, result, png), encoding="utf-8")
        render.console.print(f"report: {output}")
        _fail(failed)
        return
    if output is None:
        folder = settings.home / "compare"
        folder.mkdir(parents=True, exist_ok=True)
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in metric)
        output = folder / f"{sides.label_a}_vs_{sides.label_b}_{safe}.png".replace(":", "_")
    output.write_bytes(png)
    render.console.print(f"plot: {output}", soft_wrap=True)
    _fail(failed)


def _fail(regression: str) -> None:
    if regression:
        render.error(f"regression: {regression}")
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("compare")(compare)
