"""The comparison table: one row per measure, Choreograph against Testground, with the target.

The ratio is always Choreograph / Testground. A target is either a bound on that ratio
(``≥ 1.0x`` for throughput, ``≤ 0.5x`` for a run's wall time) or a bound on Choreograph's own
figure (``p99 ≤ 20 ms``); a row whose target is met or missed says so.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    bound: float
    at_least: bool  # True: the value must be >= bound; False: <= bound
    on_ratio: bool  # True: bound applies to the ratio; False: to Choreograph's figure
    unit: str = ""

    def text(self) -> str:
        sign = "≥" if self.at_least else "≤"
        if self.on_ratio:
            return f"{sign} {self.bound:.1f}x Testground"
        return f"{sign} {self.bound:g} {self.unit}".rstrip()

    def met(self, ours: float, ratio: float | None) -> bool | None:
        value = ratio if self.on_ratio else ours
        if value is None:
            return None
        return value >= self.bound if self.at_least else value <= self.bound


@dataclass(frozen=True)
class Row:
    measure: str
    unit: str
    ours: float | None
    theirs: float | None
    target: Target | None = None
    note: str = ""  # why a figure is missing

    @property
    def ratio(self) -> float | None:
        if self.ours is None or not self.theirs:
            return None
        return self.ours / self.theirs


def _figure(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "ops/s":
        return f"{value:,.0f} {unit}"
    if unit == "s":
        return f"{value:.2f} s"
    return f"{value:.2f} {unit}"


def render(rows: list[Row]) -> str:
    header = ("measure", "Choreograph", "Testground", "ratio C/T", "target")
    cells: list[tuple[str, ...]] = [header]
    notes: list[str] = []
    for row in rows:
        ratio = row.ratio
        target = "—"
        if row.target is not None:
            met = row.target.met(row.ours, ratio) if row.ours is not None else None
            mark = {True: " met", False: " MISSED", None: ""}[met]
            target = row.target.text() + mark
        measure = row.measure
        if row.note:
            if row.note not in notes:
                notes.append(row.note)
            measure += f" [{notes.index(row.note) + 1}]"
        cells.append(
            (
                measure,
                _figure(row.ours, row.unit),
                _figure(row.theirs, row.unit),
                "—" if ratio is None else f"{ratio:.2f}x",
                target,
            )
        )
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
    lines = []
    for n, line in enumerate(cells):
        first = line[0].ljust(widths[0])
        rest = [line[i].rjust(widths[i]) for i in (1, 2, 3)] + [line[4]]
        lines.append("  ".join([first, *rest]).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines += [f"[{n}] {note}" for n, note in enumerate(notes, 1)]
    return "\n".join(lines)
