"""A Python plan and a JavaScript plan in one composition meet on one barrier and topic.

Choreograph runs one plan per composition, so the plan folder ``mixed`` holds both
halves: ``main.py`` (Choreograph's SDK, built by ``exec:python``) and ``index.js``
(@testground/sdk, built by ``exec:node``); each group of the composition names its
builder. Both SDKs scope keys as ``run:<run>:plan:<plan>:case:<case>:…``, so if either
scoped them differently the shared barrier would never open and the run would time out.
"""

from __future__ import annotations

import pytest

from .conftest import COMPAT, Choreo

COMPOSITION = COMPAT / "mixed" / "plans" / "python-meets-js.toml"

pytestmark = [
    pytest.mark.usefixtures("node"),
    pytest.mark.prebuilt("composition", "-f", str(COMPOSITION), tools=("npm",)),
]


def test_python_and_js_instances_share_barriers_and_topics(choreo: Choreo) -> None:
    run = choreo("run", "composition", "-f", str(COMPOSITION), "--timeout", "60")
    assert run.code == 0, run
    assert run.table_row("py") == ["3/3", "0", "0", "0"]
    assert run.table_row("js") == ["3/3", "0", "0", "0"]
    builds = run.record["builds"]
    assert {group: builds[group]["builder"] for group in ("py", "js")} == {
        "py": "exec:python",
        "js": "exec:node",
    }
    # Every instance read the whole roster: six enrolments numbered 1..6 (checked by each
    # instance), from both languages, with each group's own greeting param.
    expected = "roster langs=js,python greetings=js:hello from node,py:hello from python"
    for key in [f"{group}/{i}" for group in ("py", "js") for i in range(3)]:
        assert expected in run.messages(key), key
    assert {o["status"] for o in run.instances.values()} == {"success"}
