"""What plans print and what Choreograph's own messages quote reaches the terminal verbatim:
nothing is read as rich markup (``[running]``, ``[[groups]]``) or an emoji code (``:1234:``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from choreograph import progress
from choreograph.cli import render, render_builds, render_results
from choreograph.engine import RunResult
from choreograph.plan.manifest import Manifest
from choreograph.results.outcomes import GroupOutcome

# Each would print as something else through rich markup: a style tag, an emoji, nothing.
TRICKY = [
    "goroutine 12 [running]:",
    "dial tcp 10.102.0.2:1234: connect: connection refused",
    "unknown key 'flavour' in [[groups]] #1",
    '[global] and [builders."exec:python"]',
    "[bold]not bold[/] :smile: :thumbs_up: [link=http://x]x[/link]",
]


def lines(text: str) -> str:
    """Rich pads table cells and draws their borders; compare words only."""
    return " ".join(text.replace("│", " ").split())


@pytest.mark.parametrize("say", [render.error, render.warn])
def test_errors_and_warnings_print_verbatim(
    say: object, capsys: pytest.CaptureFixture[str]
) -> None:
    for text in TRICKY:
        say(text)  # type: ignore[operator]
    err = capsys.readouterr().err
    for text in TRICKY:
        assert text in err


def test_live_progress_prints_plan_output_verbatim(capsys: pytest.CaptureFixture[str]) -> None:
    live = render.LiveProgress(show_messages=True)
    panic = "panic: boom\n\ngoroutine 12 [running]:\nmain.main()\n\t/plan/main.go:9 +0x1d"
    live(progress.InstanceFinished("[[groups]]/0", "crash", TRICKY[1], panic))
    live(progress.InstanceFinished("g/1", "failure", TRICKY[2], ""))
    for text in TRICKY:
        live(progress.Message("g/2", text))
    live(progress.RunStopping(TRICKY[3]))
    live(progress.BuildLog("exec:go", TRICKY[0]))
    out = capsys.readouterr().out
    assert f"[[groups]]/0 crash: {TRICKY[1]}" in out
    assert "    goroutine 12 [running]:\n" in out
    assert f"g/1 failure: {TRICKY[2]}" in out
    for text in TRICKY:
        assert f"g/2: {text}" in out
    assert f"stopping the run: {TRICKY[3]}" in out
    assert f"exec:go: {TRICKY[0]}" in out


def test_outcome_table_prints_group_ids_and_stop_reason_verbatim(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = RunResult(
        run_id="r1",
        run_dir=Path("/runs/r1"),
        success=False,
        groups=[GroupOutcome("[running]", 2, 1, 1, 0, 0), GroupOutcome(":smile:", 1, 1, 0, 0, 0)],
        instances=[],
        stop_reason="service db: 10.0.0.1:1234: [[groups]]",
    )
    render.outcome_table(result)
    out = lines(capsys.readouterr().out)
    assert "[running] 1/2" in out
    assert ":smile: 1/1" in out
    assert "run r1 failed (service db: 10.0.0.1:1234: [[groups]])" in out


def test_describe_prints_the_manifest_verbatim(capsys: pytest.CaptureFixture[str]) -> None:
    manifest = Manifest.model_validate(
        {
            "name": "plan",
            "testcases": [
                {
                    "name": "case",
                    "params": {"addr": {"type": "string", "desc": "[[groups]]", "unit": "[ms]"}},
                }
            ],
        }
    )
    render.describe_manifest(Path("/plans/plan"), manifest)
    out = lines(capsys.readouterr().out)
    assert "addr string [ms] [[groups]]" in out


def test_tables_of_results_print_cells_verbatim(capsys: pytest.CaptureFixture[str]) -> None:
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame({"group": ["[running]", ":smile:"], "name": ["[b]x[/b]", ":1234:"]})
    render_results.frame_table(frame, title="metrics of [[groups]]")
    out = lines(capsys.readouterr().out)
    assert "metrics of [[groups]]" in out
    assert "[running] [b]x[/b] :smile: :1234:" in out


def test_build_progress_prints_installer_lines_verbatim(
    capsys: pytest.CaptureFixture[str],
) -> None:
    render_builds.build_progress(progress.BuildLog("exec:python", TRICKY[4]))
    assert TRICKY[4] in capsys.readouterr().out


def test_every_console_is_made_without_markup() -> None:
    """The mechanism, not just the cases above: a console made anywhere in the CLI
    prints a markup-looking string as it is."""
    for console in (render.console, render.err_console, render.make_console(width=200)):
        with console.capture() as captured:
            console.print("[red]x[/] :smile:")
        assert captured.get().strip() == "[red]x[/] :smile:"
