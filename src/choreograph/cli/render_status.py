"""The live status of a running run, as lines: totals, then per group, then time and the
barriers instances wait on.

At 2,000 instances a single "running 1,998" says nothing about a hang; the lines here say
which group is behind, how long is left before the timeout, and which barrier holds
instances back and how many have arrived (from the engine's
:class:`~choreograph.progress.RunPulse`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.text import Text

from choreograph.progress import RunPulse

STATUSES = ("success", "failure", "crash", "stopped")
_LABELS = {"success": ("ok", "green"), "failure": ("failed", "red")}
_LABELS |= {"crash": ("crashed", "bold red"), "stopped": ("stopped", "yellow")}
GROUP_LINES = 8
"""Groups listed one per line; more are summed into one line."""


@dataclass
class Tally:
    """How many instances of a group (or of the run) started and ended each way."""

    total: int = 0
    started: int = 0
    ended: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))

    @property
    def running(self) -> int:
        return self.started - sum(self.ended.values())

    def add(self, other: Tally) -> None:
        self.total += other.total
        self.started += other.started
        for status, count in other.ended.items():
            self.ended[status] = self.ended.get(status, 0) + count


def tally_line(label: str, tally: Tally) -> Text:
    parts: list[str | tuple[str, str]] = [
        (label, "bold"),
        f"running {tally.running}  started {tally.started}/{tally.total}",
    ]
    for status in STATUSES:
        name, style = _LABELS[status]
        parts += [(f"  {name} ", style), str(tally.ended.get(status, 0))]
    return Text.assemble(*parts)


def status_lines(groups: dict[str, Tally], pulse: RunPulse | None) -> list[Text]:
    """The totals line; a line per group when there are several; the time line and one
    line per barrier waited on once a pulse came."""
    total = Tally()
    for tally in groups.values():
        total.add(tally)
    lines = [tally_line("", total)]
    if len(groups) > 1:
        width = max(len(name) for name in groups) + 2
        shown = list(groups.items())
        rest = Tally()
        if len(shown) > GROUP_LINES:
            for _, tally in shown[GROUP_LINES - 1 :]:
                rest.add(tally)
            shown = shown[: GROUP_LINES - 1]
            shown.append((f"({len(groups) - GROUP_LINES + 1} more)", rest))
        lines += [tally_line(f"  {name}".ljust(width + 2), tally) for name, tally in shown]
    if pulse is not None:
        lines.append(pulse_line(pulse))
        lines += [wait_line(*wait) for wait in pulse.waits]
    return lines


def pulse_line(pulse: RunPulse) -> Text:
    left = max(0.0, pulse.timeout_s - pulse.elapsed_s)
    return Text(
        f"  elapsed {clock(pulse.elapsed_s)}, timeout in {clock(left)}",
        style="dim",
    )


def clock(seconds: float) -> str:
    """``4s``, ``1m12s``, ``2h03m05s``: whole seconds, the largest unit first."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def wait_line(state: str, signalled: int, target: int, waiting: int) -> Text:
    return Text.assemble(
        ("  waiting on ", "dim"),
        (repr(state), "bold"),
        f": {signalled}/{target} arrived, {waiting} waiting",
    )


def plain(lines: list[Text]) -> str:
    """The status as plain lines, for output that is not a terminal."""
    return "\n".join(line.plain.rstrip() for line in lines)
