"""A run's report: one self-contained HTML file (``choreo report RUN``).

Sections, in the order a reader asks the questions: did it pass (outcome per group, the
failed instances linked to their log tails); how did it unfold (the timeline of starts,
ends and stages); what did it measure (per metric, figures chosen by its type, see
:mod:`report_metrics`); what did it cost (CPU and memory, :mod:`report_resources`); and the
log tails themselves.

The report has to stay readable, quick and small at thousands of instances: past
:data:`bands.BAND_THRESHOLD` instances a group, figures draw per-group bands and counts
instead of one line or bar per instance, failures are listed by error rather than one row
each, and at most :data:`MAX_LOG_TAILS` log tails are inlined. Instances are listed in
natural order (``g/2`` before ``g/10``) everywhere.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import TYPE_CHECKING, Any

from choreograph.results import bands, html, report_metrics, report_resources, timeline
from choreograph.results.layout import instance_order

if TYPE_CHECKING:
    from choreograph.results.tables import RunData

MAX_FAILED_ROWS = 50
"""Failed instances listed one row each; past it, one row per group, status and error."""
MAX_LOG_TAILS = 20
"""Log tails inlined (one per distinct error first); each is up to 80 lines of page."""
_EXAMPLES = 3


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
    failed = _failed(data)
    tails = _tailed(failed)
    contents = (
        "<p>Contents: <a href='#outcome'>outcome</a> · <a href='#timeline'>timeline</a> · "
        "<a href='#metrics'>metrics</a> · <a href='#resources'>CPU and memory</a>"
        + (" · <a href='#logs'>log tails</a>" if tails else "")
        + "</p>"
    )
    body = [
        contents,
        _outcome(data, failed, {f["instance"] for f in tails}),
        _timeline(data, start_ns),
        *report_metrics.section(data.metrics, start_ns),
        report_resources.section(data.resources, start_ns),
        _logs(data, tails, len(failed)),
    ]
    return html.page(title, subtitle, body)


def _start_ns(record: dict[str, Any], data: RunData) -> int:
    try:
        return int(datetime.fromisoformat(record["started"]).timestamp() * 1e9)
    except (KeyError, ValueError, TypeError):
        stamps = data.metrics["ts"]
        return int(stamps.min()) if len(stamps) else 0


def _failed(data: RunData) -> list[dict[str, Any]]:
    """The instances that did not succeed, in natural order."""
    frame = data.outcomes
    rows: list[dict[str, Any]] = frame[frame["status"] != "success"].to_dict("records")
    return sorted(rows, key=lambda f: instance_order(f["instance"]))


def _tailed(failed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The failures whose log tails are inlined: one of each distinct (group, status,
    error) first, so every kind of failure has an example, then the rest in order."""
    firsts: dict[tuple[str, str, str], dict[str, Any]] = {}
    for f in failed:
        firsts.setdefault(_kind(f), f)
    chosen = list(firsts.values())[:MAX_LOG_TAILS]
    keys = {f["instance"] for f in chosen}
    chosen += [f for f in failed if f["instance"] not in keys][: MAX_LOG_TAILS - len(chosen)]
    return sorted(chosen, key=lambda f: instance_order(f["instance"]))


def _kind(f: dict[str, Any]) -> tuple[str, str, str]:
    return str(f["group"]), str(f["status"]), str(f["error"] or "")


def _outcome(data: RunData, failed: list[dict[str, Any]], tailed: set[str]) -> str:
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
    if failed:
        parts.append(f"<h3>Instances that did not succeed ({len(failed)})</h3>")
        parts.append(_failures(data, failed, tailed))
    return "\n".join(parts)


def _failures(data: RunData, failed: list[dict[str, Any]], tailed: set[str]) -> str:
    """A row per failed instance; past :data:`MAX_FAILED_ROWS`, a row per kind of failure."""
    if len(failed) <= MAX_FAILED_ROWS:
        table = [
            (f["instance"], html.status(str(f["status"]), False), f["error"] or "",
             _log_link(data, f["instance"], tailed))
            for f in failed
        ]  # fmt: skip
        return html.table(["instance", "status", "error", "log"], table, left=3)
    by_kind: dict[tuple[str, str, str], list[str]] = {}
    for f in failed:
        by_kind.setdefault(_kind(f), []).append(f["instance"])
    grouped = [
        (group, html.status(status, False), error, len(keys),
         html.Raw(", ".join(_example(k, tailed) for k in keys[:_EXAMPLES])))
        for (group, status, error), keys in sorted(by_kind.items(), key=lambda kv: -len(kv[1]))
    ]  # fmt: skip
    headers = ["group", "status", "error", "instances", "for example"]
    return html.table(headers, grouped, left=3)


def _log_link(data: RunData, key: str, tailed: set[str]) -> html.Raw:
    if key in tailed:
        return html.Raw(f"<a href='#{html.anchor(key)}'>log tail</a>")
    return html.Raw(f"<code>choreo logs {escape(data.run_id)} --instance {escape(key)}</code>")


def _example(key: str, tailed: set[str]) -> str:
    if key in tailed:
        return f"<a href='#{html.anchor(key)}'>{escape(key)}</a>"
    return escape(key)


def _timeline(data: RunData, start_ns: int) -> str:
    found = timeline.spans(data.events, data.outcomes, [data.resources, data.metrics], start_ns)
    parts = ["<h2 id='timeline'>Timeline</h2>"]
    if not found:
        parts.append("<p>No instance left a timestamp (events, resource samples, metrics).</p>")
        return "".join(parts)
    sizes: dict[str, int] = {}
    for span in found:
        sizes[span.group] = sizes.get(span.group, 0) + 1
    scale = bands.at_scale(sizes.values())
    alt = (
        "instances running, ended ok and ended otherwise over time, per group"
        if scale
        else "one bar per instance from its start to its end, coloured by outcome"
    )
    parts.append(html.image(timeline.figure(found, scale), alt))
    unplaced = len(data.outcomes) - len(found)
    if unplaced > 0:
        parts.append(f"<p>{unplaced} instances left no timestamp and are not drawn.</p>")
    stages = timeline.stages(data.events, start_ns)
    if stages:
        parts.append("<h3>Stages</h3><p>When instances ended each stage (seconds since start).</p>")
        headers = ["group", "stage", "instances", "first", "median", "last"]
        parts.append(html.table(headers, stages, left=2))
    return "".join(parts)


def _logs(data: RunData, tails: list[dict[str, Any]], failed: int) -> str:
    if not tails:
        return ""
    parts = ["<h2 id='logs'>Log tails of the instances that did not succeed</h2>"]
    if failed > len(tails):
        parts.append(
            f"<p>{len(tails)} of {failed}, one of each distinct error first; "
            f"<code>choreo logs {escape(data.run_id)} --instance KEY</code> shows any other.</p>"
        )
    for f in tails:
        tail = data.log_tail(f["instance"])
        parts.append(
            f"<section id='{html.anchor(f['instance'])}'><h3>{escape(f['instance'])}: "
            f"{escape(str(f['status']))}</h3>"
            f"<p>{escape(str(f['error'] or ''))}</p>"
            f"<h4>run.err</h4><pre>{escape(tail['run.err']) or '(empty)'}</pre>"
            f"<h4>run.out</h4><pre>{escape(tail['run.out']) or '(empty)'}</pre></section>"
        )
    return "\n".join(parts)
