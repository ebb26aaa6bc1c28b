"""Everything that formats for a terminal: live run progress and the outcome table."""

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

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

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
                f"run [bold]{event.run_id}[/]: plan {event.plan}, case {event.case}, "
                f"{self.total} instances on {event.runner}"
            )
        elif isinstance(event, progress.BuildFinished):
            cached = "cached" if event.from_cache else f"built in {event.seconds:.1f}s"
            console.print(
                f"build {event.build_id} ({event.builder}, groups "
                f"{', '.join(event.groups)}): {cached}"
            )
        elif isinstance(event, progress.BuildLog):
            console.print(Text(f"{event.builder}: {event.line}", style="dim"))
        elif isinstance(event, progress.InstanceStarted):
            self.started += 1
        elif isinstance(event, progress.InstanceFinished):
            self.counts[event.status] = self.counts.get(event.status, 0) + 1
            if event.status in ("failure", "crash"):
                console.print(
                    f"[{_STYLE[event.status]}]{event.key} {event.status}:[/] {event.error}"
                )
                if event.detail:
                    console.print(Text(_indent(event.detail.rstrip()[-2000:]), style="dim"))
        elif isinstance(event, progress.RunStopping):
            console.print(f"[yellow]stopping the run: {event.reason}[/]")
        elif isinstance(event, progress.Message) and self.show_messages:
            console.print(f"[dim]{event.key}:[/] {event.text}")
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
    verdict = "[green]succeeded[/]" if result.success else "[red]failed[/]"
    reason = f" ({result.stop_reason})" if result.stop_reason else ""
    console.print(f"run {result.run_id} {verdict}{reason} in {result.seconds:.1f}s")
    console.print(f"outputs: {result.run_dir}")


def warn(message: str) -> None:
    err_console.print(f"[bold yellow]warning:[/] {message}", soft_wrap=True)


def error(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    sys.stderr.flush()


def describe_manifest(plan_dir: object, manifest: object) -> None:
    """A plan's cases, instance limits and params, as ``choreo describe`` shows them."""
    m = manifest  # a plan.Manifest; typed loosely so render stays free of pydantic imports
    console.print(f"[bold]{m.name}[/]  ({plan_dir})")  # type: ignore[attr-defined]
    defaults = m.defaults  # type: ignore[attr-defined]
    console.print(f"builder {defaults.builder}, runner {defaults.runner}")
    for case in m.testcases:  # type: ignore[attr-defined]
        inst = case.instances
        console.print(
            f"\ncase [bold]{case.name}[/]: instances min {inst.min}, max {inst.max}"
            + (f", default {inst.default}" if inst.default is not None else "")
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
