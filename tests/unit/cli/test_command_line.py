"""The command line as scripts rely on it: each short flag means one thing in every
command, help texts are plain text, and shell completion is offered."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import typer.main
from typer.testing import CliRunner

from choreograph.cli.app import app

# Testground's own meanings, kept on purpose: -f is the composition file of `run|build
# composition` and follow in `logs` (`logs -t ID -f`); no command takes both.
SHARED = {"-f": {"--file", "--follow"}}


def commands() -> Iterator[tuple[str, Any]]:
    def walk(command: Any, path: str) -> Iterator[tuple[str, Any]]:
        yield path, command
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, f"{path} {name}".strip())

    yield from walk(typer.main.get_command(app), "")


def test_each_short_flag_has_one_meaning_across_commands() -> None:
    meanings: dict[str, dict[str, list[str]]] = {}
    for path, command in commands():
        for param in command.params:
            if param.param_type_name != "option":
                continue
            long = next((o for o in param.opts if o.startswith("--")), param.opts[0])
            for short in (o for o in param.opts if len(o) == 2):
                meanings.setdefault(short, {}).setdefault(long, []).append(path)
    clashes = {
        short: longs
        for short, longs in meanings.items()
        if len(longs) > 1 and set(longs) != SHARED.get(short)
    }
    assert clashes == {}
    # -f is a composition file wherever it is one (calibrate takes one too).
    assert set(meanings["-f"]["--file"]) == {"run composition", "build composition", "calibrate"}
    assert meanings["-f"]["--follow"] == ["logs"]
    assert "--format" not in {long for longs in meanings.values() for long in longs}


def test_help_texts_have_no_rest_markup() -> None:
    for path, command in commands():
        texts = [command.help or ""] + [getattr(p, "help", None) or "" for p in command.params]
        for text in texts:
            assert "``" not in text, f"choreo {path}: {text!r}"


def test_shell_completion_is_offered() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "--install-completion" in result.output


def test_a_bad_duration_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["builds", "purge", "--older-than", "soon"])
    assert result.exit_code == 2
    assert "30s" in result.output  # the message shows the grammar
