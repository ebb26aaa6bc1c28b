"""The dashboard's ``/compare``: two tasks' runs on one metric, through the same library
``choreo compare`` calls (:mod:`choreograph.results.comparison`), shaped for a template.

Sides are named by task id (the daemon's own) or run id; never by a path, so a browser
cannot make the daemon read a folder of its host outside its runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from choreograph.config import Settings
from choreograph.daemon.tasks import TaskStore
from choreograph.errors import ChoreographError, InputError

if TYPE_CHECKING:
    from choreograph.results.comparison import Sides
    from choreograph.results.locate import Located
    from choreograph.results.stats import Comparison

_RUN_ID = re.compile(r"[A-Za-z0-9_-]+")


@dataclass
class CompareView:
    a: str
    b: str
    metric: str
    metrics: list[str] = field(default_factory=list)
    """Metrics both runs recorded (the choices)."""
    error: str = ""
    verdict: str = ""
    significant: bool = False
    rows: list[tuple[str, ...]] = field(default_factory=list)
    """A and B: label, n, mean, interval of the mean."""
    tests: list[tuple[str, str]] = field(default_factory=list)
    plot: str = ""
    """The side-by-side plot as a data: URI."""
    why: str = ""


def run_id_of(store: TaskStore, ident: str) -> str:
    """The run of task ``ident``, or ``ident`` itself as a run id (prefix)."""
    task = store.get(ident)
    if task is not None:
        if not task.run_id:
            raise InputError(f"task {ident} has no run (state {task.state})")
        return task.run_id
    if not _RUN_ID.fullmatch(ident):
        raise InputError(f"{ident!r} is neither a task id nor a run id")
    return ident


def compare_view(
    store: TaskStore, settings: Settings, a: str, b: str, metric: str, alpha: float = 0.05
) -> CompareView:
    """Everything the page shows; ``error`` says why there is no verdict (a side without
    a run, too few samples, the ``[report]`` extra missing)."""
    view = CompareView(a, b, metric)
    if not (a and b):
        return view
    try:
        from choreograph.results import comparison as cmp
        from choreograph.results.locate import locate
        from choreograph.results.plots import data_uri
    except ImportError as exc:  # pragma: no cover - the [report] extra is missing
        view.error = f"comparisons need the [report] extra: {exc}"
        return view
    try:
        located = [locate(run_id_of(store, x), settings.home) for x in (a, b)]
        view.metrics = sorted(_metric_names(located[0]) & _metric_names(located[1]))
        if not metric:
            view.metric = metric = view.metrics[0] if view.metrics else ""
        if not metric:
            raise InputError("the two runs recorded no metric in common")
        sides = cmp.sides(settings.home, located[0].name, located[1].name, metric, None)
        result = cmp.run(sides, alpha, 0.95)
        png = cmp.plot(sides)
    except (ChoreographError, ImportError) as exc:
        view.error = str(exc)
        return view
    _fill(view, sides, result)
    view.plot = data_uri(png)
    view.why = cmp.WHY
    return view


def _metric_names(located: Located) -> set[str]:
    from choreograph.results.metrics import read_run

    names: set[str] = set()
    for run_dir in located.run_dirs()[:1]:
        groups = [g["id"] for g in located.record.get("spec", {}).get("groups", [])]
        names.update(row.name for row in read_run(run_dir, groups))
    return names


def _fill(view: CompareView, sides: Sides, c: Comparison) -> None:
    from choreograph.results.html import fmt

    unit = f" {sides.unit}" if sides.unit else ""
    view.verdict = c.verdict("A", "B")
    view.significant = c.significant
    view.rows = [
        ("A", sides.label_a, str(c.a.n), fmt(c.a.mean), f"[{fmt(c.a.low)}, {fmt(c.a.high)}]"),
        ("B", sides.label_b, str(c.b.n), fmt(c.b.mean), f"[{fmt(c.b.low)}, {fmt(c.b.high)}]"),
    ]
    view.tests = [
        ("difference of means (B - A)", f"{fmt(c.difference)}{unit}"),
        ("interval of the difference", f"[{fmt(c.low)}, {fmt(c.high)}]{unit}"),
        ("relative change", f"{c.relative:+.2%}"),
        ("Welch's t", f"t = {c.welch_t:.3f}, df = {c.welch_df:.1f}, p = {c.welch_p:.3g}"),
        ("Mann-Whitney U", f"U = {c.mann_whitney_u:g}, p = {c.mann_whitney_p:.3g}"),
    ]
