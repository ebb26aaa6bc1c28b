"""Everything that formats for a terminal: live run progress and the outcome table.

Text reaches the terminal exactly as given. Plans print anything (a Go panic's
``goroutine 12 [running]:``, ``10.0.0.2:1234: connect``) and Choreograph's own messages
quote TOML (``[[groups]] #1``, ``[builders."exec:go"]``); rich would read those as markup
or emoji codes and print something else. So every console here is made by
:func:`make_console` (no markup, no emoji codes, no highlighting), and styling is done
with :class:`rich.text.Text` spans, which never parse what they hold.

Output that is not a terminal (a file, a pipe, another program) has no width to fit:
there every console prints lines whole, tables as wide as their cells, so a run id or
a run's header is never cut at 80 columns.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from rich.console import Console, ConsoleDimensions, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from choreograph import progress
from choreograph.cli.render_status import Tally, plain, status_lines
from choreograph.engine import RunResult

PIPE_WIDTH = 1_000_000
"""The width of output that is not a terminal: wide enough that nothing wraps."""


class _Console(Console):
    """A console whose width, when it does not print to a terminal, has no limit (rich
    would take the terminal's, or 80 columns, and wrap or cut what it prints)."""

    @property
    def size(self) -> ConsoleDimensions:
        size = super().size
        if self._width is None and not self.is_terminal:
            return ConsoleDimensions(PIPE_WIDTH, size.height)
        return size

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size


def make_console(**options: Any) -> Console:
    """A console that prints strings verbatim; ``options`` go to :class:`Console`."""
    return _Console(markup=False, emoji=False, highlight=False, **options)


console = make_console()
err_console = make_console(stderr=True)

_STYLE = {"success": "green", "failure": "red", "crash": "bold red", "stopped": "yellow"}


class LiveProgress:
    """A progress sink: a live status line, and a printed line the moment an instance
    fails or crashes (so a problem shows long before the run ends).

    Instances that end the same way (same status, error and traceback) print it once;
    the others are counted and listed when the progress ends (``× 30``)."""  # noqa: RUF002

    PLAIN_STATUS_EVERY_S = 30.0
    """Where output is not a terminal (CI logs), the status is printed this often."""

    def __init__(self, show_messages: bool = False) -> None:
        self.groups: dict[str, Tally] = {}
        """Per group, instances started and ended each way (the totals are their sums)."""
        self.pulse: progress.RunPulse | None = None
        self._printed_at = 0.0
        self.show_messages = show_messages
        self._live: Live | None = None
        self._run_started: float | None = None
        self._run_ended: float | None = None
        self._problems: dict[tuple[str, str, str], list[str]] = {}

    @property
    def run_seconds(self) -> float | None:
        """Seconds from the run's start (its build done) to its end; None before it starts."""
        if self._run_started is None:
            return None
        return (self._run_ended or time.monotonic()) - self._run_started

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
        if self._run_started is not None and self._run_ended is None:
            self._run_ended = time.monotonic()
        self.repeated_problems()

    def repeated_problems(self) -> None:
        """One line per failure or crash that more than one instance had: how many, who."""
        for (status, error, _), keys in self._problems.items():
            if len(keys) > 1:
                shown = ", ".join(keys[:5]) + (f", … {len(keys) - 5} more" if len(keys) > 5 else "")
                console.print(
                    Text.assemble(
                        (f"× {len(keys)} ", "bold"),  # noqa: RUF001
                        (f"the same {status}", _STYLE[status]),
                        f" (shown once above, for {keys[0]}): {error}  [{shown}]",
                    ),
                    soft_wrap=True,
                )
        self._problems.clear()

    def _status(self) -> Group:
        return Group(*status_lines(self.groups, self.pulse))

    def _tally(self, key: str) -> Tally:
        group = key.rpartition("/")[0] or key
        return self.groups.setdefault(group, Tally())

    def __call__(self, event: progress.ProgressEvent) -> None:
        if isinstance(event, progress.RunStarted):
            self.groups = {name: Tally(total=count) for name, count in event.groups.items()}
            self.pulse = None
            self._run_started, self._run_ended = time.monotonic(), None
            console.print(
                Text.assemble(
                    "run ",
                    (event.run_id, "bold"),
                    f": plan {event.plan}, case {event.case}, "
                    f"{sum(event.groups.values())} instances on {event.runner}",
                ),
                soft_wrap=True,
            )
        elif isinstance(event, progress.BuildFinished):
            cached = "cached" if event.from_cache else f"built in {event.seconds:.1f}s"
            console.print(
                f"build {event.build_id} ({event.builder}, groups "
                f"{', '.join(event.groups)}): {cached}",
                soft_wrap=True,
            )
        elif isinstance(event, progress.BuildLog):
            console.print(Text(f"{event.builder}: {event.line}", style="dim"), soft_wrap=True)
        elif isinstance(event, progress.InstanceStarted):
            self._tally(event.key).started += 1
        elif isinstance(event, progress.InstanceFinished):
            ended = self._tally(event.key).ended
            ended[event.status] = ended.get(event.status, 0) + 1
            if event.status in ("failure", "crash") and self._first(event):
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
        elif isinstance(event, progress.RunPulse):
            self._pulsed(event)
        if self._live is not None:
            self._live.update(self._status())

    def _pulsed(self, pulse: progress.RunPulse) -> None:
        """Keep the pulse for the live status; without a live status (a CI log), print
        the status every :attr:`PLAIN_STATUS_EVERY_S`, so a hang shows where it waits."""
        self.pulse = pulse
        if self._live is None and pulse.elapsed_s - self._printed_at >= self.PLAIN_STATUS_EVERY_S:
            self._printed_at = pulse.elapsed_s
            console.print(plain(status_lines(self.groups, pulse)), soft_wrap=True)

    def _first(self, event: progress.InstanceFinished) -> bool:
        """True the first time an instance ends this way; later twins are only counted."""
        seen = self._problems.setdefault((event.status, event.error, event.detail), [])
        seen.append(event.key)
        return len(seen) == 1


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


def outcome_table(result: RunResult, run_seconds: float | None = None) -> None:
    """The groups' outcomes, the verdict with the run's own time apart from its build's
    (``run_seconds``: from the first instance's start; None when not measured), and the
    commands that show more."""
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
        Text.assemble(
            f"run {result.run_id} ", verdict, f"{reason} {timing(result.seconds, run_seconds)}"
        ),
        soft_wrap=True,
    )
    console.print(f"outputs: {result.run_dir}", soft_wrap=True)
    console.print(next_commands(result.run_id), soft_wrap=True)


def timing(total: float, run_seconds: float | None) -> str:
    """``in 12.3s (run 10.1s, build 2.2s)``: the run itself apart from its build."""
    if run_seconds is None:
        return f"in {total:.1f}s"
    run = min(run_seconds, total)
    return f"in {run:.1f}s (plus {total - run:.1f}s of build and setup: {total:.1f}s in all)"


def next_commands(run_id: str) -> str:
    return f"next: choreo results {run_id}  |  choreo report {run_id}  |  choreo logs {run_id}"


def run_document(result: RunResult, run_seconds: float | None = None) -> dict[str, Any]:
    """A run's result as ``--json`` prints it."""
    return {
        "run_id": result.run_id,
        "run_dir": str(result.run_dir),
        "success": result.success,
        "stop_reason": result.stop_reason,
        "seconds": round(result.seconds, 3),
        "run_seconds": None if run_seconds is None else round(run_seconds, 3),
        "groups": [
            {
                "group": g.group,
                "total": g.total,
                "ok": g.ok,
                "failed": g.failed,
                "crashed": g.crashed,
                "stopped": g.stopped,
                "success": g.success,
            }
            for g in result.groups
        ],
        "builds": {
            group: {k: v for k, v in build.items() if k != "provenance"}
            for group, build in result.builds.items()
        },
    }


def print_json(document: object) -> None:
    """One JSON document on stdout, whatever the console's width or terminal."""
    text = json.dumps(_finite(document), indent=2, default=str, allow_nan=False)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _finite(value: object) -> object:
    """NaN and infinities as null: strict JSON has no other spelling for them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


@contextlib.contextmanager
def progress_to_stderr(enabled: bool = True) -> Iterator[None]:
    """While inside, what the consoles print goes to stderr (``--json`` keeps stdout for
    its one document)."""
    if not enabled:
        yield
        return
    saved = console._file
    console.file = sys.stderr
    try:
        yield
    finally:
        console._file = saved


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
    """One row per run record (``run.json``), in the order given; the run id (which
    other commands take) is never wrapped or cut."""
    if not records:
        console.print(f"no runs in {runs_dir}")
        return
    table = Table(show_edge=False, pad_edge=False)
    for column in ("run", "plan", "case", "instances", "status", "seconds"):
        table.add_column(column, no_wrap=column in ("run", "status"), overflow="fold")
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
