"""Everything that formats for a terminal: live run progress and the outcome table.

Text reaches the terminal exactly as given. Plans print anything (a Go panic's
``goroutine 12 [running]:``, ``10.0.0.2:1234: connect``) and Choreograph's own messages
quote TOML (``[[groups]] #1``, ``[builders."exec:go"]``); rich would read those as markup
or emoji codes and print something else. So every console here is made by
:func:`make_console` (no markup, no emoji codes, no highlighting), and styling is done
with :class:`rich.text.Text` spans, which never parse what they hold.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from choreograph import progress
from choreograph.engine import RunResult


def make_console(**options: Any) -> Console:
    """A console that prints strings verbatim; ``options`` go to :class:`Console`."""
    return Console(markup=False, emoji=False, highlight=False, **options)


console = make_console()
err_console = make_console(stderr=True)

_STYLE = {"success": "green", "failure": "red", "crash": "bold red", "stopped": "yellow"}


class LiveProgress:
    """A progress sink: a live status line, and a printed line the moment an instance
    fails or crashes (so a problem shows long before the run ends)."""

    def __init__(self, show_messages: bool = False) -> None:
        self.total = 0
        self.started = 0
        self.counts = {"success": 0, "failure": 0, "crash": 0, "stopped": 0}
        self.show_messages = show_messages
        self._live: Live | None = None

    def __enter__(self) -> LiveProgress:
        if console.is_terminal:
            self._live = Live(self._status(), console=console, refresh_per_second=8, transient=True)
            self._live.__enter__()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._live is not None:
            self._live.__exit__(et, ev, tb)

    def _status(self) -> Text:
        done = sum(self.counts.values())
        c = self.counts
        return Text.assemble(
            ("running ", "bold"),
            f"{self.started - done}",
            "  started ",
            f"{self.started}/{self.total}",
            ("  ok ", "green"),
            str(c["success"]),
            ("  failed ", "red"),
            str(c["failure"]),
            ("  crashed ", "bold red"),
            str(c["crash"]),
            ("  stopped ", "yellow"),
            str(c["stopped"]),
        )

    def __call__(self, event: progress.ProgressEvent) -> None:
        if isinstance(event, progress.RunStarted):
            self.total = sum(event.groups.values())
            console.print(
                Text.assemble(
                    "run ",
                    (event.run_id, "bold"),
                    f": plan {event.plan}, case {event.case}, "
                    f"{self.total} instances on {event.runner}",
                )
            )
        elif isinstance(event, progress.BuildFinished):
            cached = "cached" if event.from_cache else f"built in {event.seconds:.1f}s"
            console.print(
                f"build {event.build_id} ({event.builder}, groups "
                f"{', '.join(event.groups)}): {cached}"
            )
        elif isinstance(event, progress.BuildLog):
            console.print(Text(f"{event.builder}: {event.line}", style="dim"), soft_wrap=True)
        elif isinstance(event, progress.InstanceStarted):
            self.started += 1
        elif isinstance(event, progress.InstanceFinished):
            self.counts[event.status] = self.counts.get(event.status, 0) + 1
            if event.status in ("failure", "crash"):
                # soft_wrap: a plan's own lines (a panic, a stack) are kept whole.
                console.print(
                    Text.assemble(
                        (f"{event.key} {event.status}:", _STYLE[event.status]), " ", event.error
                    ),
                    soft_wrap=True,
                )
                if event.detail:
                    detail = _indent(event.detail.rstrip()[-2000:])
                    console.print(Text(detail, style="dim"), soft_wrap=True)
        elif isinstance(event, progress.RunStopping):
            console.print(Text(f"stopping the run: {event.reason}", style="yellow"), soft_wrap=True)
        elif isinstance(event, progress.Message) and self.show_messages:
            console.print(Text.assemble((f"{event.key}:", "dim"), " ", event.text), soft_wrap=True)
        elif isinstance(event, progress.RunWarning):
            warn(event.text)
        elif isinstance(event, progress.RunnerStatus):
            console.print(Text(event.text, style="dim"), soft_wrap=True)
        if self._live is not None:
            self._live.update(self._status())


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


def outcome_table(result: RunResult) -> None:
    table = Table(title=None, show_edge=False, pad_edge=False)
    for column in ("group", "ok/total", "failed", "crashed", "stopped"):
        table.add_column(column, justify="left" if column == "group" else "right")
    for g in result.groups:
        style = "green" if g.success else "red"
        table.add_row(
            g.group,
            Text(f"{g.ok}/{g.total}", style=style),
            str(g.failed),
            str(g.crashed),
            str(g.stopped),
        )
    console.print(table)
    verdict = ("succeeded", "green") if result.success else ("failed", "red")
    reason = f" ({result.stop_reason})" if result.stop_reason else ""
    console.print(
        Text.assemble(f"run {result.run_id} ", verdict, f"{reason} in {result.seconds:.1f}s"),
        soft_wrap=True,
    )
    console.print(f"outputs: {result.run_dir}")


def warn(message: str) -> None:
    err_console.print(Text.assemble(("warning:", "bold yellow"), " ", message), soft_wrap=True)


def error(message: str) -> None:
    err_console.print(Text.assemble(("error:", "bold red"), " ", message), soft_wrap=True)
    sys.stderr.flush()


def describe_manifest(plan_dir: object, manifest: object) -> None:
    """A plan's cases, instance limits and params, as ``choreo describe`` shows them."""
    m = manifest  # a plan.Manifest; typed loosely so render stays free of pydantic imports
    console.print(Text.assemble((m.name, "bold"), f"  ({plan_dir})"))  # type: ignore[attr-defined]
    defaults = m.defaults  # type: ignore[attr-defined]
    console.print(f"builder {defaults.builder}, runner {defaults.runner}")
    for case in m.testcases:  # type: ignore[attr-defined]
        inst = case.instances
        default = f", default {inst.default}" if inst.default is not None else ""
        console.print(
            Text.assemble(
                "\ncase ",
                (case.name, "bold"),
                f": instances min {inst.min}, max {inst.max}{default}",
            )
        )
        if case.params:
            table = Table(show_edge=False, pad_edge=False)
            for column in ("param", "type", "default", "unit", "description"):
                table.add_column(column)
            for name, p in case.params.items():
                table.add_row(
                    name,
                    p.type,
                    "" if p.default is None else str(p.default),
                    p.unit or "",
                    p.desc or "",
                )
            console.print(table)


def runs_table(runs_dir: Path, records: list[dict[str, Any]]) -> None:
    """One row per run record (``run.json``), oldest first."""
    if not records:
        console.print(f"no runs in {runs_dir}")
        return
    table = Table(show_edge=False, pad_edge=False)
    for column in ("run", "plan", "case", "instances", "status", "seconds"):
        table.add_column(column)
    for record in records:
        spec = record.get("spec", {})
        table.add_row(
            str(record.get("run_id", "")),
            spec.get("plan", ""),
            spec.get("case", ""),
            str(spec.get("total_instances", "")),
            record.get("status", ""),
            str(record.get("seconds", "")),
        )
    console.print(table)
