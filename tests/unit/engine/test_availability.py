from pathlib import Path

import pytest

from choreograph.availability import check_available
from choreograph.errors import InputError
from choreograph.plan.spec import GroupSpec, RunSpec


def _spec(builder: str, runner: str) -> RunSpec:
    return RunSpec(
        plan="example-js",
        plan_dir=Path("."),
        case="sync",
        runner=runner,
        groups=(GroupSpec("g", 2, {}, builder),),
        enabled_builders=("docker:node",),
        enabled_runners=("local:docker",),
    )


def test_testground_only_plan_gets_the_flags_to_use() -> None:
    with pytest.raises(InputError) as err:
        check_available(_spec("docker:node", "local:docker"))
    text = str(err.value)
    assert "builder docker:node is not available" in text
    assert "runner local:docker is not available" in text
    assert "enables builders: docker:node; runners: local:docker" in text
    assert "exec:node" in text and "local:exec" in text
    assert "run it here with: --builder exec:node --runner local:exec" in text


def test_available_ids_pass() -> None:
    check_available(_spec("exec:node", "local:exec"))
