"""A run's report: one self-contained HTML file (``choreo report RUN``).

Sections, in the order a reader asks the questions: did it pass (outcome per group, the
failed instances linked to their log tails); what did it measure (per metric: a summary
per group, the distribution per group, the values over time); what did it cost (CPU and
memory per instance over time); and the log tails themselves.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import TYPE_CHECKING, Any

from choreograph.results import html, plots
from choreograph.results.summary import STATS, sample_frame, summarize

if TYPE_CHECKING:
    import pandas as pd

    from choreograph.results.tables import RunData

MAX_METRICS = 40
_MIB = 1024 * 1024


def run_report(data: RunData) -> str:
    record = data.record
    spec = record.get("spec", {})
    title = f"Run {data.run_id}"
    subtitle = (
        f"plan {spec.get('plan', '?')}, case {spec.get('case', '?')}, runner "
        f"{spec.get('runner', '?')}, {spec.get('total_instances', '?')} instances, "
        f"started {record.get('started', '?')}, {record.get('seconds', '?')} s"
    )
    start_ns = _start_ns(record, data)
    contents = (
        "<p>Contents: <a href='#outcome'>outcome</a> · <a href='#metrics'>metrics</a> · "
        "<a href='#resources'>CPU and memory</a>"
        + (" · <a href='#logs'>log tails</a>" if _failed(data) else "")
        + "</p>"
    )
    body = [
        contents,
        _outcome(data),
        *_metrics(data, start_ns),
        _resources(data, start_ns),
        _logs(data),
    ]
    return html.page(title, subtitle, body)


def _start_ns(record: dict[str, Any], data: RunData) -> int:
    try:
        return int(datetime.fromisoformat(record["started"]).timestamp() * 1e9)
    except (KeyError, ValueError, TypeError):
        stamps = data.metrics["ts"]
        return int(stamps.min()) if len(stamps) else 0


def _failed(data: RunData) -> list[dict[str, Any]]:
    frame = data.outcomes
    rows: list[dict[str, Any]] = frame[frame["status"] != "success"].to_dict("records")
    return rows


def _outcome(data: RunData) -> str:
    record = data.record
    outcome = record.get("outcome", {})
    verdict = html.status(data.status or "unknown", data.status == "success")
    parts = [f"<h2 id='outcome'>Outcome: {verdict.html}</h2>"]
    if record.get("stop_reason"):
        parts.append(f"<p>Stopped: {escape(str(record['stop_reason']))}</p>")
    rows = [
        (
            g["group"],
            html.status(f"{g['ok']}/{g['total']}", g["ok"] == g["total"]),
            g["failed"],
            g["crashed"],
            g["stopped"],
        )
        for g in outcome.get("groups", [])
    ]
    parts.append(html.table(["group", "ok/total", "failed", "crashed", "stopped"], rows))
    failed = _failed(data)
    if failed:
        parts.append("<h3>Instances that did not succeed</h3>")
        parts.append(
            html.table(
                ["instance", "status", "error", "log"],
                [
                    (
                        f["instance"],
                        html.status(str(f["status"]), False),
                        f["error"] or "",
                        html.Raw(f"<a href='#{html.anchor(f['instance'])}'>log tail</a>"),
                    )
                    for f in failed
                ],
                left=3,
            )
        )
    return "\n".join(parts)


def _metrics(data: RunData, start_ns: int) -> list[str]:
    frame = data.metrics
    if frame.empty:
        return [
            "<h2 id='metrics'>Metrics</h2>"
            "<p>This run recorded no metrics (runenv.R() / runenv.D()).</p>"
        ]
    parts = ["<h2 id='metrics'>Metrics</h2>"]
    keys = frame[["kind", "name", "unit"]].drop_duplicates()
    keys = keys.assign(order=keys["kind"] != "results").sort_values(["order", "name"])
    for k, (kind, name, unit, _) in enumerate(keys.itertuples(index=False)):
        if k == MAX_METRICS:
            parts.append(f"<p>… {len(keys) - MAX_METRICS} more metrics: see choreo results.</p>")
            break
        rows = frame[(frame["kind"] == kind) & (frame["name"] == name) & (frame["unit"] == unit)]
        parts.append(_metric(rows, kind, name, unit, start_ns))
    return parts


def _metric(rows: pd.DataFrame, kind: str, name: str, unit: str, start_ns: int) -> str:
    summary = summarize(rows)
    table = html.table(
        ["group", *STATS], summary[["group", *STATS]].itertuples(index=False, name=None)
    )
    samples = sample_frame(rows)
    by_group = {str(g): list(v["value"]) for g, v in samples.groupby("group")}
    distribution = plots.distribution(by_group, name, unit)
    # Counters are running totals: one line per instance. Others: the samples of a group.
    key = "instance" if rows["type"].iloc[0] == "counter" else "group"
    series = {
        str(label): (list((v["ts"] - start_ns) / 1e9), list(v["value"]))
        for label, v in rows.sort_values("ts").groupby(key)
    }
    timeline = plots.over_time(series, name, unit, dots=key == "group")
    return (
        f"<h3>{escape(name)} <small>({escape(kind)}{', ' + escape(unit) if unit else ''})</small>"
        f"</h3>{table}{html.image(distribution, name + ' distribution')}"
        f"{html.image(timeline, name + ' over time')}"
    )


def _resources(data: RunData, start_ns: int) -> str:
    frame = data.resources
    if frame.empty:
        return (
            "<h2 id='resources'>Resources</h2><p>No resource samples (sample_interval = 0, "
            "or a runner that does not sample).</p>"
        )

    def per_instance(metric: str, scale: float) -> plots.Series:
        rows = frame[frame["name"] == metric].sort_values("ts")
        return {
            str(key): (list((v["ts"] - start_ns) / 1e9), list(v["value"] / scale))
            for key, v in rows.groupby("instance")
        }

    png = plots.resources(per_instance("cpu_percent", 1.0), per_instance("rss_bytes", _MIB))
    peak = frame.groupby(["instance", "name"])["value"].max().unstack()
    rows = [
        (key, peak.at[key, "cpu_percent"], peak.at[key, "rss_bytes"] / _MIB) for key in peak.index
    ]
    table = html.table(["instance", "peak CPU %", "peak RSS MiB"], rows)
    return (
        f"<h2 id='resources'>Resources</h2>{html.image(png, 'CPU and memory per instance')}{table}"
    )


def _logs(data: RunData) -> str:
    failed = _failed(data)
    if not failed:
        return ""
    parts = ["<h2 id='logs'>Log tails of the instances that did not succeed</h2>"]
    for f in failed:
        tails = data.log_tail(f["instance"])
        parts.append(
            f"<section id='{html.anchor(f['instance'])}'><h3>{escape(f['instance'])}: "
            f"{escape(str(f['status']))}</h3>"
            f"<p>{escape(str(f['error'] or ''))}</p>"
            f"<h4>run.err</h4><pre>{escape(tails['run.err']) or '(empty)'}</pre>"
            f"<h4>run.out</h4><pre>{escape(tails['run.out']) or '(empty)'}</pre></section>"
        )
    return "\n".join(parts)
