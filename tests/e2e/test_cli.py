"""Plan store, describe, and precise errors for broken input."""

from __future__ import annotations

from pathlib import Path

from .conftest import EXAMPLES, Choreo


def test_plan_create_run_list_rm(choreo: Choreo) -> None:
    proc = choreo("plan", "create", "demo")
    assert proc.returncode == 0, proc.stderr
    assert (choreo.home / "plans" / "demo" / "manifest.toml").is_file()
    proc = choreo("run", "single", "--plan", "demo", "--case", "quickstart", "-i", "3")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "demo" in choreo("plan", "list").stdout
    assert choreo("plan", "create", "demo").returncode == 2
    assert choreo("plan", "rm", "demo").returncode == 0
    assert "demo" not in choreo("plan", "list").stdout
    assert choreo("plan", "rm", "demo").returncode == 2


def test_plan_import_and_describe(choreo: Choreo) -> None:
    proc = choreo("plan", "import", "--from", str(EXAMPLES / "params"), "--name", "p2")
    assert proc.returncode == 0, proc.stderr
    proc = choreo("describe", "p2")
    assert proc.returncode == 0, proc.stderr
    for text in ("typed", "count", "int", "duration", "1500ms"):
        assert text in proc.stdout


def test_unknown_plan_and_case(choreo: Choreo) -> None:
    proc = choreo("run", "single", "--plan", "nope", "--case", "x")
    assert proc.returncode == 2 and "no plan 'nope'" in proc.stderr
    proc = choreo("run", "single", "--plan", str(EXAMPLES / "sync"), "--case", "nope")
    assert proc.returncode == 2
    assert "nope" in proc.stderr and "barrier" in proc.stderr and "fanin" in proc.stderr


def test_broken_manifest_names_file_line_and_field(choreo: Choreo, tmp_path: Path) -> None:
    plan = tmp_path / "broken"
    plan.mkdir()
    (plan / "main.py").write_text("")
    (plan / "manifest.toml").write_text(
        'name = "broken"\n[defaults]\nbuilder = "exec:python"\nrunner = "local:exec"\n'
        '[builders."exec:python"]\n[runners."local:exec"]\n'
        '[[testcases]]\nname = "c"\ninstances = { min = 1, max = "lots" }\n'
    )
    proc = choreo("run", "single", "--plan", str(plan), "--case", "c")
    assert proc.returncode == 2
    assert "manifest.toml:9" in proc.stderr and "max" in proc.stderr and "lots" in proc.stderr


def test_broken_composition_names_file_line_and_field(choreo: Choreo, tmp_path: Path) -> None:
    comp = tmp_path / "c.toml"
    comp.write_text(
        f'[global]\nplan = "{EXAMPLES / "sync"}"\ncase = "all"\ntotal_instances = 2\n'
        '[[groups]]\nid = "a"\ninstances = { count = 2 }\ncolour = "blue"\n'
    )
    proc = choreo("run", "composition", "-f", str(comp))
    assert proc.returncode == 2
    assert "c.toml:8" in proc.stderr and "colour" in proc.stderr


def test_standalone_sync_service_serves_the_protocol(choreo: Choreo) -> None:
    import json
    import socket
    import subprocess
    import sys
    import time

    from websockets.sync.client import connect

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "choreograph.cli",
            "sync-service",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=choreo.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                ws = connect(f"ws://127.0.0.1:{port}/", open_timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        with ws:
            ws.send(json.dumps({"id": "1", "publish": {"topic": "t", "payload": {"a": 1}}}))
            assert json.loads(ws.recv(timeout=5)) == {
                "id": "1",
                "error": "",
                "publish": {"seq": 1},
                "subscribe": "",
                "signal_entry": None,
            }
            ws.send(json.dumps({"id": "2", "subscribe": {"topic": "t"}}))
            reply = json.loads(ws.recv(timeout=5))
            assert reply["id"] == "2" and json.loads(reply["subscribe"]) == {"a": 1}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
