"""Go, Python and JavaScript instances in one composition: one barrier, one topic."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..conftest import Choreo

COMPOSITION = Path(__file__).parents[1] / "mixed" / "plans" / "python-js-go.toml"


@pytest.mark.prebuilt("composition", "-f", str(COMPOSITION), tools=("go", "node", "npm"))
def test_go_python_and_js_groups_meet(choreo: Choreo, node: None) -> None:
    run = choreo("run", "composition", "-f", str(COMPOSITION), "--messages", timeout=600)
    assert run.code == 0, str(run)
    record = run.record
    assert {g["group"]: (g["ok"], g["total"]) for g in record["outcome"]["groups"]} == {
        "py": (2, 2),
        "js": (2, 2),
        "go": (2, 2),
    }
    builders = {group: build["builder"] for group, build in record["builds"].items()}
    assert builders == {"py": "exec:python", "js": "exec:node", "go": "exec:go"}
    # every instance, whatever its language, saw the whole roster
    roster = "roster langs=go,js,python greetings=go:hello from go,js:hello from node,py:hello"
    out = " ".join(run.stdout.split())
    assert out.count(roster) == 6, run.stdout
