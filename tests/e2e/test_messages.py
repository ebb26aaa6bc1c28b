"""What ``choreo`` prints and how it exits, as a user sees it: plan output and
Choreograph's own errors verbatim, every mistake located in the file to fix, and a
host problem told apart from bad input by its exit status."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.ports import port_in_use

from .conftest import Choreo

MAIN = """\
import os
import sys

from choreograph.sdk import RunEnv, invoke_map


def panic(runenv: RunEnv) -> None:
    runenv.record_message("dial tcp 10.102.0.2:1234: connect :smile: [[groups]]")
    print("panic: boom\\n\\ngoroutine 12 [running]:\\nmain.main()", file=sys.stderr, flush=True)
    os._exit(2)


def fail(runenv: RunEnv) -> str:
    return "goroutine 12 [running]: at 10.102.0.2:1234: [bold]x[/]"


def ok(runenv: RunEnv) -> None:
    pass


invoke_map({"panic": panic, "fail": fail, "ok": ok})
"""

MANIFEST = """\
name = "talk"
[defaults]
builder = "exec:python"
runner = "local:exec"
[builders."exec:python"]
entry = "main.py"
[runners."local:exec"]
[[testcases]]
name = "panic"
[[testcases]]
name = "fail"
[[testcases]]
name = "ok"
  [testcases.params]
  n = {{ type = "{n_type}", default = 1 }}
"""


def plan(tmp_path: Path, n_type: str = "int") -> Path:
    folder = tmp_path / "talk"
    folder.mkdir(exist_ok=True)
    (folder / "main.py").write_text(MAIN)
    (folder / "manifest.toml").write_text(MANIFEST.format(n_type=n_type))
    return folder


def composition(tmp_path: Path, text: str, plan_ref: str = "talk") -> Path:
    path = tmp_path / "comp.toml"
    path.write_text(f'[global]\nplan = "{plan_ref}"\ncase = "ok"\n{text}')
    return path


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_plan_output_is_printed_verbatim(choreo: Choreo, tmp_path: Path) -> None:
    folder = plan(tmp_path)
    panic = choreo("run", "single", "--plan", str(folder), "--case", "panic", "--messages")
    assert panic.returncode == 1, panic.stdout + panic.stderr
    assert "goroutine 12 [running]:" in panic.stdout
    assert "dial tcp 10.102.0.2:1234: connect :smile: [[groups]]" in panic.stdout
    fail = choreo("run", "single", "--plan", str(folder), "--case", "fail")
    assert fail.returncode == 1, fail.stdout + fail.stderr
    assert "goroutine 12 [running]: at 10.102.0.2:1234: [bold]x[/]" in fail.stdout


def test_errors_quote_toml_tables_verbatim(choreo: Choreo, tmp_path: Path) -> None:
    plan(tmp_path)
    comp = composition(tmp_path, '[[groups]]\nid = "a"\nflavour = "x"\n')
    proc = choreo("run", "composition", "-f", str(comp))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"{comp}:6: groups#1.flavour: unknown key 'flavour' in [[groups]] #1;" in proc.stderr


def test_an_unknown_param_type_stops_the_run_at_its_line(choreo: Choreo, tmp_path: Path) -> None:
    folder = plan(tmp_path, n_type="integer")
    manifest = folder / "manifest.toml"
    proc = choreo("run", "single", "--plan", str(folder), "--case", "ok")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    where = f"{manifest}:{line_of(manifest, 'integer')}: testcases#3.params.n.type"
    assert f"{where}: expected one of int, float, bool, string" in proc.stderr
    assert choreo.runs() == []


@pytest.mark.parametrize("command", [("run", "composition"), ("build", "composition")])
def test_a_missing_plan_is_reported_at_the_composition_line(
    choreo: Choreo, tmp_path: Path, command: tuple[str, str]
) -> None:
    comp = composition(tmp_path, '[[groups]]\nid = "a"\ninstances = { count = 1 }\n', "nope")
    proc = choreo(*command, "-f", str(comp))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"error: {comp}:2: global.plan: no plan 'nope'" in proc.stderr


def test_unread_settings_stop_the_run_before_any_build(choreo: Choreo, tmp_path: Path) -> None:
    plan(tmp_path)
    comp = composition(
        tmp_path,
        '[global.run_config]\nlaunchr = "exec"\n'
        '[[groups]]\nid = "a"\ninstances = { count = 1 }\n'
        '[groups.build_config]\nmodfile = "go.v2.mod"\n',
    )
    proc = choreo("run", "composition", "-f", str(comp))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    err = proc.stderr
    assert f"{comp}:5: global.run_config.launchr: runner local:exec does not read" in err
    assert f"{comp}:10: groups#1.build_config.modfile: builder exec:python does not read" in err
    assert choreo.runs() == []
    assert not (choreo.home / "builds").exists() or not any((choreo.home / "builds").iterdir())


def test_testground_only_settings_run_with_a_warning(choreo: Choreo, tmp_path: Path) -> None:
    plan(tmp_path)
    comp = composition(
        tmp_path,
        "[global.run_config]\nkeep_containers = true\n"
        '[[groups]]\nid = "a"\ninstances = { count = 1 }\n',
    )
    proc = choreo("run", "composition", "-f", str(comp))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "warning: " in proc.stderr and "'keep_containers' is a setting of Testground" in (
        proc.stderr
    )


@pytest.fixture
def taken_port() -> Iterator[int]:
    with port_in_use() as port:
        yield port


def test_a_service_port_in_use_is_a_host_problem(
    choreo: Choreo, tmp_path: Path, taken_port: int
) -> None:
    plan(tmp_path)
    server = f'"{sys.executable}", "-m", "http.server", "{{port}}", "--bind", "127.0.0.1"'
    comp = composition(
        tmp_path,
        '[[groups]]\nid = "a"\ninstances = { count = 1 }\n'
        f'[[services]]\nname = "web"\ncommand = [{server}]\nready = {{ tcp = {taken_port} }}\n',
    )
    proc = choreo("run", "composition", "-f", str(comp))
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert f"service web: port {taken_port} on 127.0.0.1 is already in use" in proc.stderr
