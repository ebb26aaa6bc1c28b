"""``memory_merge`` end to end: the instances of a run that asks for it are marked for KSM
while ksmd runs, and the host has its own KSM settings back when the run is over."""

from __future__ import annotations

from pathlib import Path

import pytest

from choreograph.runners import memory_merge

from .conftest import Choreo

PROBLEM = memory_merge.unavailable()
pytestmark = pytest.mark.skipif(
    PROBLEM is not None, reason=f"needs KSM it may switch on (root): {PROBLEM}"
)

PLAN = """
from pathlib import Path
from choreograph.sdk import invoke_map

def probe(runenv, ctx):
    lines = Path("/proc/self/ksm_stat").read_text().splitlines()
    stat = dict(line.replace(":", "").split(" ", 1) for line in lines)
    running = Path("/sys/kernel/mm/ksm/run").read_text().strip()
    runenv.record_message(f"merge_any={stat['ksm_merge_any']} ksmd_run={running}")
    ctx.sync_client.signal_and_wait("probed", runenv.test_instance_count)

invoke_map({"probe": probe})
"""

MANIFEST = """
name = "ksm-probe"

[defaults]
builder = "exec:python"
runner = "local:exec"

[builders."exec:python"]
entry = "main.py"

[runners."local:exec"]

[runners."local:netns"]

[[testcases]]
name = "probe"
instances = { min = 1, max = 10, default = 3 }
"""


def ksm_settings() -> dict[str, str]:
    return {
        name: (memory_merge.KSM_DIR / name).read_text().strip()
        for name in ("run", "pages_to_scan", "sleep_millisecs")
    }


@pytest.mark.parametrize(
    ("runner", "mode", "marked"),
    [("local:exec", "on", "yes"), ("local:exec", "off", "no"), ("local:netns", "on", "yes")],
)
def test_instances_are_merged_only_when_asked_and_ksm_is_given_back(
    choreo: Choreo, tmp_path: Path, runner: str, mode: str, marked: str
) -> None:
    plan = tmp_path / "plan"
    plan.mkdir()
    (plan / "main.py").write_text(PLAN)
    (plan / "manifest.toml").write_text(MANIFEST)
    comp = tmp_path / "comp.toml"
    comp.write_text(
        f'[global]\nplan = "{plan}"\ncase = "probe"\ntotal_instances = 3\n'
        f'runner = "{runner}"\n\n[global.run_config]\nmemory_merge = "{mode}"\n\n'
        '[[groups]]\nid = "g"\ninstances = { count = 3 }\n'
    )
    before = ksm_settings()
    others = (memory_merge.STATE_DIR / "saved.json").exists()  # another run merges now
    proc = choreo("run", "composition", "-f", str(comp))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for index in range(3):
        out = (choreo.runs()[-1] / "g" / str(index) / "run.out").read_text()
        assert f"merge_any={marked}" in out, out
        if mode == "on":
            assert "ksmd_run=1" in out, out
    assert not (memory_merge.STATE_DIR / f"lease-{choreo.runs()[-1].name}").exists()
    if not others:
        assert ksm_settings() == before
        assert not (memory_merge.STATE_DIR / "saved.json").exists()


def test_a_bad_setting_is_refused_with_its_place(choreo: Choreo, tmp_path: Path) -> None:
    comp = tmp_path / "comp.toml"
    comp.write_text(
        f'[global]\nplan = "{Path(__file__).parents[2] / "examples" / "sync"}"\n'
        'case = "barrier"\ntotal_instances = 2\nrunner = "local:exec"\n\n'
        '[global.run_config]\nmemory_merge = "always"\n\n'
        '[[groups]]\nid = "g"\ninstances = { count = 2 }\n'
    )
    proc = choreo("run", "composition", "-f", str(comp))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert (
        "[runners.\"local:exec\"] memory_merge = 'always': expected one of ('auto', 'on', 'off')"
        in proc.stdout + proc.stderr
    )
