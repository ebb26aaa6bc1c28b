"""The run's timeline: when each instance started and ended, and when it reached its stages.

The run folder has no start or end times of its own; they come from what instances wrote.
A start is the instance's ``start`` event; an end its first outcome event (the one that
decided its outcome). An instance without them (a foreign SDK that stamps no times, a
crash that wrote no outcome) is placed by the first and last things it left with a time
on them: any event, a resource sample or a metric record. Stages are the SDK's ``stage_start`` and
``stage_end`` events (Testground's stages, each usually ending at a barrier); the sync
service's states and barriers themselves are not recorded in the run folder.

Up to :data:`bands.BAND_THRESHOLD` instances a group, the figure has one bar per instance;
past it, per group, how many instances are running, have ended ok and have ended
otherwise, over time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from choreograph.results import plots
from choreograph.results.layout import instance_order

if TYPE_CHECKING:
    import pandas as pd

TERMINAL = ("success", "failure", "crash")
ENDED = frozenset({"success", "failure", "crash", "stopped"})
MAX_GROUPS = 8
"""Groups drawn as panels of counts; the rest are named under the figure."""
_NS_SINCE_1973 = 10**17
"""Smaller stamps are seconds, milliseconds or microseconds, not Unix nanoseconds."""
_COLOURS = {"success": "tab:green", "failure": "tab:red", "crash": "darkred",
            "stopped": "tab:orange"}  # fmt: skip


@dataclass(frozen=True)
class Span:
    instance: str
    group: str
    start: float
    """Seconds since the run started (as every x of the report)."""
    end: float | None
    """None: the instance had not ended when the run folder was read."""
    status: str


@dataclass(frozen=True)
class Counts:
    """Per group, step functions over time: each value holds from its x to the next."""

    x: list[float]
    running: list[int]
    ok: list[int]
    failed: list[int]
    instances: int


def spans(
    events: pd.DataFrame, outcomes: pd.DataFrame, samples: list[pd.DataFrame], start_ns: int
) -> list[Span]:
    """One span per instance of the run's outcomes or events that left a time anywhere (its
    events, or the ``instance``/``ts`` rows of ``samples``: resources, metrics), in natural
    order. Times that are not Unix nanoseconds (a foreign SDK's seconds or milliseconds)
    are left out rather than drawn decades before the run."""
    import pandas as pd

    stamped = events[pd.to_numeric(events["ts"], errors="coerce") >= _NS_SINCE_1973]
    stamped = stamped.astype({"ts": "int64"})
    keys = set(outcomes["instance"]) | set(events["instance"])
    seen = pd.concat([stamped[["instance", "ts"]], *(f[["instance", "ts"]] for f in samples)])
    seen = seen[seen["instance"].isin(keys) & (seen["ts"] >= _NS_SINCE_1973)]
    first_seen = seen.groupby("instance")["ts"].min().to_dict()
    last_seen = seen.groupby("instance")["ts"].max().to_dict()
    started = stamped[stamped["kind"] == "start"].groupby("instance")["ts"].min().to_dict()
    terminal = stamped[stamped["kind"].isin(TERMINAL)].sort_values("ts", kind="stable")
    ended = terminal.groupby("instance")["ts"].first().to_dict()
    decided = terminal.groupby("instance")["kind"].first().to_dict()
    status = dict(zip(outcomes["instance"], outcomes["status"], strict=True))
    out = []
    for key in sorted(keys, key=instance_order):
        begin = started.get(key, first_seen.get(key))
        if begin is None:
            continue
        state = str(status.get(key) or decided.get(key) or "running")
        end = ended.get(key, last_seen[key] if state in ENDED else None)
        out.append(
            Span(
                key,
                key.rpartition("/")[0],
                (begin - start_ns) / 1e9,
                None if end is None else (max(end, begin) - start_ns) / 1e9,
                state,
            )
        )
    return out


def counts(found: list[Span]) -> dict[str, Counts]:
    """Per group (natural order): running, ended ok and ended otherwise, over time."""
    import numpy as np

    by_group: dict[str, list[Span]] = {}
    for span in found:
        by_group.setdefault(span.group, []).append(span)
    out = {}
    for group in sorted(by_group, key=instance_order):
        items = by_group[group]
        starts = np.sort([s.start for s in items])
        ends = np.sort([s.end for s in items if s.end is not None])
        ok = np.sort([s.end for s in items if s.end is not None and s.status == "success"])
        failed = np.sort([s.end for s in items if s.end is not None and s.status != "success"])
        x = np.unique(np.concatenate([starts, ends]))
        before = np.searchsorted
        running = before(starts, x, "right") - before(ends, x, "right")
        out[group] = Counts(
            list(x),
            [int(n) for n in running],
            [int(n) for n in before(ok, x, "right")],
            [int(n) for n in before(failed, x, "right")],
            len(items),
        )
    return out


def stages(events: pd.DataFrame, start_ns: int) -> list[tuple[str, str, int, float, float, float]]:
    """Per group and stage: ``(group, stage, instances that ended it, first, median, last)``,
    times in seconds since the run started, in the order groups and stages were reached."""
    ends = events[(events["kind"] == "stage_end") & events["ts"].notna()]
    if ends.empty:
        return []
    ends = ends.assign(
        stage=ends["text"].str.removeprefix("stage end "), x=(ends["ts"] - start_ns) / 1e9
    )
    reached = ends.groupby(["group", "stage", "instance"])["x"].min()
    table = reached.groupby(["group", "stage"]).agg(["count", "min", "median", "max"])
    rows = [
        (str(g), str(s), int(r["count"]), float(r["min"]), float(r["median"]), float(r["max"]))
        for (g, s), r in table.iterrows()
    ]
    return sorted(rows, key=lambda row: (instance_order(row[0]), row[3]))


def figure(found: list[Span], at_scale: bool) -> bytes:
    """A bar per instance, or (``at_scale``) per group the counts over time."""
    from matplotlib.figure import Figure

    if not at_scale:
        return _bars(found)
    per_group = counts(found)
    shown = list(per_group)[:MAX_GROUPS]
    fig = Figure(figsize=(10, 1.0 + 1.5 * len(shown)), dpi=100, layout="constrained")
    axes = fig.subplots(len(shown), 1, sharex=True, squeeze=False)[:, 0]
    for ax, group in zip(axes, shown, strict=True):
        c = per_group[group]
        for values, label, colour in (
            (c.running, "running", "tab:blue"),
            (c.ok, "ended ok", "tab:green"),
            (c.failed, "ended otherwise", "tab:red"),
        ):
            ax.step(c.x, values, where="post", color=colour, label=label, linewidth=1.3)
        ax.set_ylabel("instances")
        ax.set_title(f"{group}: {c.instances} instances", fontsize="medium", loc="left")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize="small", ncols=3, loc="upper right")
    axes[-1].set_xlabel("seconds since the run started")
    if len(per_group) > len(shown):
        fig.suptitle(f"first {len(shown)} of {len(per_group)} groups", fontsize="small")
    return plots.to_png(fig)


def _bars(found: list[Span]) -> bytes:
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    last = max([s.end or s.start for s in found] or [0.0])
    fig = Figure(figsize=(10, min(8.0, 1.2 + 0.22 * len(found))), dpi=100, layout="constrained")
    ax = fig.subplots()
    rows = list(range(len(found)))
    ax.barh(
        rows,
        [(last if s.end is None else s.end) - s.start for s in found],
        left=[s.start for s in found],
        color=[_COLOURS.get(s.status, "tab:gray") for s in found],
    )
    ax.set_yticks(rows, [s.instance for s in found] if len(found) <= 40 else [""] * len(rows))
    ax.tick_params(axis="y", labelsize="small")
    ax.invert_yaxis()
    ax.set_xlabel("seconds since the run started")
    ax.set_title("each instance from its start to its end", fontsize="medium")
    statuses = sorted({s.status for s in found})
    ax.legend(
        handles=[Patch(color=_COLOURS.get(s, "tab:gray"), label=s) for s in statuses],
        fontsize="small",
        ncols=len(statuses) or 1,
        loc="lower right",
    )
    ax.grid(alpha=0.3, axis="x")
    return plots.to_png(fig)
