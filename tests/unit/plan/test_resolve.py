"""Resolution into RunSpecs: precedence of every setting, instance bounds, builder choice."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import choreograph.plan
from choreograph.errors import PlanError
from choreograph.plan import (
    Dependency,
    Manifest,
    RunSpec,
    load_composition,
    load_manifest,
    resolve_composition,
    resolve_single,
)

DATA = Path(__file__).parent / "data"
PLAN = DATA / "network"
MANIFEST = load_manifest(PLAN / "manifest.toml")


def line_of(text: str, needle: str, nth: int = 1) -> int:
    return [i for i, line in enumerate(text.splitlines(), 1) if needle in line][nth - 1]


def single(manifest: Manifest = MANIFEST, **overrides: object) -> RunSpec:
    args: dict[str, object] = {
        "case": "ping-pong",
        "instances": None,
        "test_params": {},
        "builder": None,
        "runner": None,
        "manifest_file": "network/manifest.toml",
    }
    args.update(overrides)
    return resolve_single(manifest, PLAN, **args)  # type: ignore[arg-type]


def test_single_run_takes_manifest_defaults() -> None:
    spec = single()
    assert (spec.plan, spec.plan_dir, spec.case, spec.runner) == (
        "network",
        PLAN,
        "ping-pong",
        "local:exec",
    )
    assert spec.run_config == {}
    assert spec.composition_file == "" and spec.composition_run == ""
    (group,) = spec.groups
    assert (group.id, group.instances, group.builder) == ("single", 2, "exec:go")
    assert group.build_config == {
        "module_path": "github.com/testground/testground/plans/network",
        "exec_pkg": ".",
    }
    assert group.params == {
        "latency": "100ms",
        "iterations": "5",
        "jitter_pct": "0.5",
        "client_mode": "false",
        "topics": '[{"id":"blocks"}]',
        "secure": "noise",
        "file_size": "1MiB",
    }


def test_single_run_flags_override() -> None:
    spec = single(
        case="storm",
        instances=7,
        builder="docker:generic",  # disabled in the manifest, but a flag is taken as given
        runner="cluster:k8s",
    )
    assert spec.total_instances == 7
    assert spec.groups[0].builder == "docker:generic"
    assert spec.groups[0].build_config == {}
    assert (spec.runner, spec.run_config) == ("cluster:k8s", {"keep_service": False})


def test_single_run_tp_overrides_defaults() -> None:
    spec = single(test_params={"latency": "30", "client_mode": "T", "label": "x"})
    params = spec.groups[0].params
    assert (params["latency"], params["client_mode"], params["label"]) == ("30s", "true", "x")


def test_single_run_instances_default_to_the_minimum() -> None:
    assert single(case="storm").total_instances == 1


def test_single_run_instances_outside_the_bounds() -> None:
    with pytest.raises(PlanError) as err:
        single(instances=3)
    (issue,) = err.value.issues
    line = line_of((PLAN / "manifest.toml").read_text(), "min = 2, max = 2")
    assert (issue.source, issue.field) == ("--instances", "instances")
    assert issue.problem == (
        f"expected 2 to 2 instances for case 'ping-pong' (network/manifest.toml:{line}), found 3"
    )


def test_single_run_unknown_case_and_undeclared_tp() -> None:
    with pytest.raises(
        PlanError, match="has no test case 'pong'; available: ping-pong, traffic-allowed, storm"
    ):
        single(case="pong")
    with pytest.raises(
        PlanError, match="--tp: latncy: case 'ping-pong' has no test param 'latncy'"
    ):
        single(test_params={"latncy": "1s"})


def test_single_run_reports_all_problems_at_once() -> None:
    with pytest.raises(PlanError) as err:
        single(instances=9, test_params={"iterations": "many"})
    assert [i.source for i in err.value.issues] == ["--instances", "--tp"]


def write_manifest(tmp_path: Path, text: str) -> Manifest:
    path = tmp_path / "manifest.toml"
    path.write_text(textwrap.dedent(text))
    return load_manifest(path)


def test_default_builder_must_be_enabled(tmp_path: Path) -> None:
    manifest = write_manifest(
        tmp_path,
        """\
        name = "p"
        [defaults]
        builder = "docker:go"
        runner = "local:exec"
        [builders."exec:go"]
        [builders."docker:go"]
        enabled = false
        [runners."local:exec"]
        [[testcases]]
        name = "a"
        """,
    )
    with pytest.raises(PlanError) as err:
        single(manifest, case="a")
    (issue,) = err.value.issues
    assert (issue.field, issue.line) == ("defaults.builder", 3)
    assert (
        issue.problem
        == "builder 'docker:go' is not enabled by the manifest of plan 'p'; enabled: exec:go"
    )


def test_no_builder_anywhere(tmp_path: Path) -> None:
    manifest = write_manifest(
        tmp_path, 'name = "p"\n[runners."local:exec"]\n[[testcases]]\nname = "a"\n'
    )
    with pytest.raises(PlanError) as err:
        single(manifest, case="a", runner="local:exec")
    (issue,) = err.value.issues
    assert (issue.source, issue.field) == ("network/manifest.toml", "defaults.builder")
    assert issue.problem == (
        "no builder chosen; expected one in defaults.builder (network/manifest.toml)"
    )


def test_no_builder_in_a_composition_lists_every_place(tmp_path: Path) -> None:
    manifest = write_manifest(
        tmp_path, 'name = "p"\n[builders."exec:go"]\n[[testcases]]\nname = "a"\n'
    )
    path = write_comp(
        tmp_path,
        '[global]\ncase = "a"\nrunner = "x"\n[[groups]]\nid = "g"\ninstances = { count = 1 }\n',
    )
    with pytest.raises(PlanError) as err:
        resolve_composition(
            load_composition(path), manifest, tmp_path, test_params={}, builder=None, runner="x"
        )
    (issue,) = err.value.issues
    manifest_path = tmp_path / "manifest.toml"
    assert issue.problem == (
        f"no builder chosen; expected one in groups#1.builder ({path}) or "
        f"global.builder ({path}) or defaults.builder ({manifest_path})"
    )


COMPOSITION = PLAN / "_compositions" / "ping-pong.toml"
COMPOSITION_TEXT = COMPOSITION.read_text()


def compose(comp_path: Path = COMPOSITION, **overrides: object) -> list[RunSpec]:
    args: dict[str, object] = {"test_params": {}, "builder": None, "runner": None}
    args.update(overrides)
    return resolve_composition(load_composition(comp_path), MANIFEST, PLAN, **args)  # type: ignore[arg-type]


def test_realistic_composition_resolves() -> None:
    (spec,) = compose()
    assert (spec.plan, spec.case, spec.runner, spec.total_instances) == (
        "network",
        "ping-pong",
        "local:docker",
        2,
    )
    assert spec.composition_file == str(COMPOSITION)
    assert (spec.composition_run, spec.concurrent_builds, spec.disable_metrics) == (
        "default",
        1,
        False,
    )
    assert spec.run_config == {"log_level": "info"}  # manifest [runners."local:docker"] < global
    pinger, ponger = spec.groups
    assert (pinger.builder, ponger.builder) == ("exec:go", "docker:go")  # global < group
    # manifest [builders."<id>"] < [global.build_config] < [groups.build_config]
    assert pinger.build_config == {
        "module_path": "github.com/testground/testground/plans/network",
        "exec_pkg": ".",
        "enable_go_build_cache": False,
        "go_proxy_mode": "remote",
    }
    assert ponger.build_config["go_version"] == "1.16"
    assert ponger.build_config["go_proxy_mode"] == "local"
    assert pinger.selectors == ("v1",) and ponger.selectors == ("v2",)
    assert pinger.dependencies == (Dependency("github.com/testground/sdk-go", "v0.3.0"),)
    assert ponger.dependencies == (
        Dependency("github.com/libp2p/go-libp2p", "master"),
        Dependency("github.com/testground/sdk-go", "v0.3.0"),
    )
    assert ponger.resources == {"memory": "512Mi", "cpu": "1"}
    # manifest default < [global.run] < [groups.run]
    assert (pinger.params["latency"], pinger.params["client_mode"]) == ("250ms", "true")
    assert (ponger.params["latency"], ponger.params["iterations"]) == ("100ms", "10")
    assert ponger.params["topics"] == '[{"id": "blocks"}]'
    assert spec.to_json()["groups"][0]["params"] == pinger.params


def test_flags_override_every_file() -> None:
    (spec,) = compose(builder="docker:go", runner="local:exec", test_params={"latency": "1s"})
    assert spec.runner == "local:exec"
    assert [g.builder for g in spec.groups] == ["docker:go", "docker:go"]
    assert [g.params["latency"] for g in spec.groups] == ["1s", "1s"]


def write_comp(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "composition.toml"
    path.write_text(textwrap.dedent(text))
    return path


RUNS = """\
[global]
case = "ping-pong"
runner = "local:exec"
disable_metrics = true
[global.run]
artifact = "prebuilt:1"
[global.run.test_params]
iterations = 1
latency = "1ms"
label = "global"

[[groups]]
id = "g"
instances = { count = 1 }
[groups.run.test_params]
iterations = 2
latency = "2ms"
label = "group"

[[runs]]
id = "first"
  [runs.test_params]
  latency = "3ms"
  label = "run"
  [[runs.groups]]
  id = "one"
  group_id = "g"
  [runs.groups.test_params]
  label = "run group"
  [[runs.groups]]
  id = "g"

[[runs]]
id = "second"
  [[runs.groups]]
  id = "g"
  instances = { count = 2 }
"""


def test_params_precedence_across_every_layer(tmp_path: Path) -> None:
    first, second = compose(write_comp(tmp_path, RUNS), test_params={"jitter_pct": "2"})
    one, g = first.groups
    # manifest < global.run < groups.run < runs < runs.groups < --tp
    assert (one.params["iterations"], one.params["latency"], one.params["label"]) == (
        "2",
        "3ms",
        "run group",
    )
    assert (g.params["label"], second.groups[0].params["label"]) == ("run", "group")
    assert one.params["jitter_pct"] == "2" and one.params["secure"] == "noise"
    assert (first.composition_run, second.composition_run) == ("first", "second")
    assert [g.instances for g in second.groups] == [2]
    assert first.disable_metrics and one.artifact == "prebuilt:1"
    assert one.builder == "exec:go"  # no builder in the composition: the manifest default


def test_each_run_is_checked_against_the_case_bounds(tmp_path: Path) -> None:
    path = write_comp(
        tmp_path, RUNS.replace("instances = { count = 2 }", "instances = { count = 3 }")
    )
    with pytest.raises(PlanError) as err:
        compose(path)
    (issue,) = err.value.issues
    assert (issue.field, issue.line) == ("runs#2", line_of(path.read_text(), "[[runs]]", 2))
    assert issue.problem.startswith("expected 2 to 2 instances in all for case 'ping-pong' (")
    assert issue.problem.endswith("found 3 in run 'second'")


def test_group_builder_must_be_enabled(tmp_path: Path) -> None:
    text = COMPOSITION_TEXT.replace('builder = "docker:go"', 'builder = "docker:generic"')
    path = write_comp(tmp_path, text)
    with pytest.raises(PlanError) as err:
        compose(path)
    (issue,) = err.value.issues
    assert (issue.source, issue.field) == (str(path), "groups#2.builder")
    assert issue.line == line_of(text, 'builder = "docker:generic"')
    assert issue.problem == (
        "builder 'docker:generic' is not enabled by the manifest of plan 'network'; "
        "enabled: docker:go, exec:go"
    )


def test_global_runner_must_be_enabled(tmp_path: Path) -> None:
    path = write_comp(
        tmp_path, COMPOSITION_TEXT.replace('runner = "local:docker"', 'runner = "local:k3s"')
    )
    with pytest.raises(PlanError) as err:
        compose(path)
    (issue,) = err.value.issues
    assert (issue.field, issue.line) == ("global.runner", line_of(COMPOSITION_TEXT, "runner ="))
    assert issue.problem.startswith("runner 'local:k3s' is not enabled by the manifest of plan")
    assert issue.problem.endswith("enabled: local:docker, local:exec, cluster:k8s")


def test_unknown_case_in_composition(tmp_path: Path) -> None:
    path = write_comp(tmp_path, COMPOSITION_TEXT.replace('case = "ping-pong"', 'case = "pingpong"'))
    with pytest.raises(PlanError) as err:
        compose(path)
    (issue,) = err.value.issues
    assert (issue.field, issue.line) == ("global.case", line_of(COMPOSITION_TEXT, "case ="))
    assert (
        "has no test case 'pingpong'; available: ping-pong, traffic-allowed, storm" in issue.problem
    )


def test_undeclared_param_in_composition_passes_with_a_located_warning(tmp_path: Path) -> None:
    # Testground passes undeclared params through (its own compositions rely on it), so a
    # composition may set one; the user is warned once, with the line, in case it is a typo.
    text = COMPOSITION_TEXT.replace('iterations = "10"', 'iteratons = "10"')
    path = write_comp(tmp_path, text)
    (spec,) = compose(path)
    assert all(group.params["iteratons"] == "10" for group in spec.groups)
    (warning,) = spec.warnings  # reported once although both groups inherit it
    assert f":{line_of(text, 'iteratons')}: global.run.test_params.iteratons" in warning
    assert "has no test param 'iteratons'" in warning


def test_undeclared_param_flag_is_an_error(tmp_path: Path) -> None:
    path = write_comp(tmp_path, COMPOSITION_TEXT)
    with pytest.raises(PlanError) as err:
        compose(path, test_params={"iteratons": "3"})
    assert any(i.source == "--tp" and "iteratons" in i.field for i in err.value.issues)


def test_package_exports_and_cheap_import() -> None:
    assert choreograph.plan.__all__ == sorted(
        choreograph.plan.__all__, key=lambda n: (not n.isupper(), n)
    )
    assert {
        "load_manifest",
        "load_composition",
        "resolve_single",
        "resolve_composition",
        "RunSpec",
    } <= set(choreograph.plan.__all__)
    code = "import sys, choreograph.plan.spec; print('pydantic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
