"""``choreo`` as scripts use it: piped output whole, ``--json`` documents on stdout,
``latest`` for the newest run, and a run's closing lines."""

from __future__ import annotations

import json

from .conftest import Choreo


def test_run_list_and_look_at_the_latest_run_from_a_script(choreo: Choreo) -> None:
    assert choreo("plan", "create", "demo").returncode == 0
    first = choreo("run", "single", "--plan", "demo", "--case", "quickstart", "-i", "2")
    assert first.returncode == 0, first.stdout + first.stderr
    first_id = choreo.runs()[-1].name
    assert f"choreo results {first_id}" in first.stdout
    assert f"choreo logs {first_id}" in first.stdout
    assert "of build and setup" in first.stdout

    proc = choreo(
        "run", "single", "--plan", "demo", "--case", "quickstart", "-i", "2", "--timeout", "1m",
        "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)  # one document, nothing else on stdout
    (run,) = document["runs"]
    assert document["success"] is True and run["success"] is True
    assert run["groups"][0]["ok"] == 2 and run["run_seconds"] <= run["seconds"]
    assert f"run {run['run_id']}: plan demo, case quickstart" in proc.stderr

    listing = json.loads(choreo("runs", "list", "--json").stdout)
    assert [r["run_id"] for r in listing["runs"]] == [run["run_id"], first_id]  # newest first
    table = choreo("runs", "list").stdout  # piped: ids whole, one line per run
    assert table.index(run["run_id"]) < table.index(first_id)
    assert "…" not in table

    plans = json.loads(choreo("plan", "list", "--json").stdout)
    assert plans["plans"] == ["demo"]
    builds = json.loads(choreo("builds", "list", "--json").stdout)
    assert builds["builds"] and builds["builds"][0]["builder"]

    results = choreo("results", "latest", "--json")
    assert results.returncode == 0, results.stderr
    assert json.loads(results.stdout)["run_id"] == run["run_id"]
    logs = choreo("logs", "last")
    assert logs.returncode == 0 and "SUCCESS" in logs.stdout
    assert "out of sequence" not in logs.stdout + logs.stderr
