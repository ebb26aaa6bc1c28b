"""The ``testground`` command run as Testground's scripts run it: a subprocess with its
own ``TESTGROUND_HOME`` (and no ``CHOREO_HOME``), in a folder of its own, reading what it
prints the way ``integration_tests/header.sh`` does."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

MANIFEST = """\
name = "{name}"

[defaults]
builder = "exec:python"
runner = "local:exec"

[builders."exec:python"]
entry = "main.py"

[runners."local:exec"]
{cases}
"""

CASE = """
[[testcases]]
name = "{case}"
instances = {{ min = 1, max = 10, default = 1 }}

  [testcases.params.word]
  type = "string"
  default = "hello"
"""

MAIN = """\
from choreograph.sdk import RunEnv, invoke_map


def ok(runenv: RunEnv) -> None:
    runenv.record_message("word=" + runenv.string_param("word"))


def panic(runenv: RunEnv) -> str:
    return "this case fails on purpose"


if __name__ == "__main__":
    invoke_map({"ok": ok, "panic": panic})
"""


def write_plan(folder: Path, name: str, cases: tuple[str, ...] = ("ok", "panic")) -> Path:
    folder.mkdir(parents=True)
    cases_text = "".join(CASE.format(case=c) for c in cases)
    (folder / "manifest.toml").write_text(MANIFEST.format(name=name, cases=cases_text))
    (folder / "main.py").write_text(MAIN)
    return folder


@pytest.fixture
def plans(tmp_path: Path) -> Path:
    """A folder of two small Python plans, as Testground's ``plans/`` is one."""
    folder = tmp_path / "src-plans"
    write_plan(folder / "placebo", "placebo")
    write_plan(folder / "echo", "echo", ("ok",))
    return folder


@dataclass
class Done:
    code: int
    out: str
    err: str

    def field(self, pattern: str, n: int) -> str:
        """``awk '/pattern/ { print $n }'``: field ``n`` of the first line with ``pattern``."""
        line = next(line for line in self.out.splitlines() if pattern in line)
        return line.split()[n - 1]


Testground = Callable[..., Done]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("CHOREO_", "TESTGROUND"))}
    environ["TESTGROUND_HOME"] = str(tmp_path / "tg-home")
    environ["HOME"] = str(tmp_path / "user")
    return environ


@pytest.fixture
def testground(tmp_path: Path, env: dict[str, str]) -> Testground:
    work = tmp_path / "work"
    work.mkdir()

    def call(*args: str, timeout: float = 120, command: str = "testground") -> Done:
        """``testground ARGS`` (or ``choreo ARGS``, its home the same folder)."""
        argv = [sys.executable, "-m", "choreograph.cli.testground", *args]
        environ = env
        if command == "choreo":
            argv = [sys.executable, "-m", "choreograph.cli", *args]
            environ = {**env, "CHOREO_HOME": env["TESTGROUND_HOME"]}
        done = subprocess.run(
            argv,
            cwd=work,
            env=environ,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return Done(done.returncode, done.stdout, done.stderr)

    return call
