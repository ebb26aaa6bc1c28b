"""Output piped to a file or another program is whole: no line wrapped or cut at 80
columns, ids kept intact; identical crashes print once with a count; a run ends with its
own time and the commands that show more."""

from __future__ import annotations

from pathlib import Path

import pytest

from choreograph import progress
from choreograph.cli import render
from choreograph.engine import RunResult
from choreograph.results.outcomes import GroupOutcome

RUN_ID = "20261130-094853-123a1b2c"


def test_a_runs_table_piped_keeps_every_id_and_row_whole(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "40")  # even a narrow terminal size does not apply to a pipe
    spec = {
        "plan": "a-plan-with-a-rather-long-name",
        "case": "a-case-name-as-long",
        "total_instances": 30,
    }
    records = [
        {"run_id": f"{RUN_ID}{n}", "spec": spec, "status": "success", "seconds": 12.5}
        for n in range(3)
    ]
    render.runs_table(Path("/runs"), records)
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) == 2 + len(records)  # header, rule, one line per run
    for record in records:
        assert record["run_id"] in out
    assert "…" not in out


def test_the_run_header_piped_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    live = render.LiveProgress()
    started = progress.RunStarted(
        RUN_ID, Path("/runs") / RUN_ID, "a-plan-with-a-long-name", "a-case", "local:docker",
        {"group-with-a-long-name": 30},
    )  # fmt: skip
    live(started)
    header = (
        f"run {RUN_ID}: plan a-plan-with-a-long-name, case a-case, 30 instances on local:docker"
    )
    assert capsys.readouterr().out == header + "\n"


def test_thirty_identical_crashes_print_once_with_a_count(
    capsys: pytest.CaptureFixture[str],
) -> None:
    trace = "Traceback (most recent call last):\n  File plan.py, line 3\nValueError: boom"
    with render.LiveProgress() as live:
        for i in range(30):
            live(progress.InstanceFinished(f"single/{i}", "crash", "ValueError: boom", trace))
        live(progress.InstanceFinished("single/30", "failure", "other", ""))
    out = capsys.readouterr().out
    assert out.count("Traceback") == 1
    assert out.count("single/0 crash: ValueError: boom") == 1
    assert "\u00d7 30 the same crash" in out
    assert "single/1, single/2" in out and "25 more" in out
    assert "single/30 failure: other" in out
    assert "\u00d7 1 " not in out


def test_a_run_ends_with_its_own_time_and_the_next_commands(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = RunResult(
        RUN_ID, Path("/runs") / RUN_ID, True, [GroupOutcome("single", 3, 3, 0, 0, 0)], [],
        seconds=14.0,
    )  # fmt: skip
    render.outcome_table(result, run_seconds=4.0)
    out = capsys.readouterr().out
    assert f"run {RUN_ID} succeeded in 4.0s (plus 10.0s of build and setup: 14.0s in all)" in out
    for command in ("results", "report", "logs"):
        assert f"choreo {command} {RUN_ID}" in out


def test_json_mode_sends_progress_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    with render.progress_to_stderr():
        render.console.print("progress")
    render.print_json({"ok": True, "mean": float("nan")})
    captured = capsys.readouterr()
    assert captured.err == "progress\n"
    assert captured.out == '{\n  "ok": true,\n  "mean": null\n}\n'
