from dataclasses import replace
from pathlib import Path

import pytest

from choreograph.availability import check_available
from choreograph.errors import HostError, InputError
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
    spec = replace(_spec("docker:node", "cluster:swarm"), enabled_runners=("cluster:swarm",))
    with pytest.raises(InputError) as err:
        check_available(spec)
    text = str(err.value)
    assert "runner cluster:swarm is not available" in text
    assert "enables builders: docker:node; runners: cluster:swarm" in text
    assert "run it here with: --builder docker:node --runner local:exec" in text


def test_docker_plan_without_docker_says_how_to_start_it_and_what_else_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from choreograph.containers import client

    monkeypatch.setattr(client, "problems", lambda: ["the Docker engine is not reachable"])
    spec = replace(
        _spec("docker:node", "local:docker"),
        enabled_builders=("docker:node", "exec:node"),
        enabled_runners=("local:docker", "local:exec"),
    )
    with pytest.raises(HostError) as err:
        check_available(spec)
    text = str(err.value)
    assert "docker:node and local:docker need Docker" in text
    assert "not reachable" in text
    assert "--builder exec:node --runner local:exec" in text


def test_available_ids_pass() -> None:
    check_available(_spec("exec:node", "local:exec"))


@pytest.mark.parametrize("runner", ["local:docker", "cluster:k8s"])
def test_an_image_runner_refuses_an_exec_build_before_building(runner: str) -> None:
    with pytest.raises(InputError) as err:
        check_available(_spec("exec:go", runner))
    text = str(err.value)
    assert f"runner {runner} starts each instance from an image" in text
    assert "builder exec:go makes none" in text and "--builder docker:go" in text


def test_an_image_runner_takes_a_prebuilt_image_from_any_builder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from choreograph.containers import client

    monkeypatch.setattr(client, "problems", lambda: [])
    spec = _spec("exec:go", "cluster:k8s")
    spec = replace(spec, groups=(replace(spec.groups[0], artifact="choreograph/p:abc"),))
    check_available(spec)  # --use-build IMAGE: nothing to build, nothing refused
