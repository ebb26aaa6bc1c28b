"""manifest.toml: what loads, and how each mistake is reported (file, field, line, why)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from choreograph.errors import Issue, PlanError
from choreograph.plan import Manifest, load_manifest

DATA = Path(__file__).parent / "data"


def write(tmp_path: Path, text: str) -> tuple[Path, str]:
    text = textwrap.dedent(text)
    path = tmp_path / "manifest.toml"
    path.write_text(text)
    return path, text


def line_of(text: str, needle: str, nth: int = 1) -> int:
    return [i for i, line in enumerate(text.splitlines(), 1) if needle in line][nth - 1]


def only_issue(path: Path) -> Issue:
    with pytest.raises(PlanError) as err:
        load_manifest(path)
    assert len(err.value.issues) == 1, err.value.issues
    return err.value.issues[0]


MINIMAL = """\
name = "p"
[builders."exec:go"]
[runners."local:exec"]
[[testcases]]
name = "a"
instances = { min = 1, max = 4, default = 2 }
"""


def test_realistic_manifest_loads() -> None:
    manifest = load_manifest(DATA / "network" / "manifest.toml")
    assert manifest.name == "network"
    assert manifest.defaults.builder == "exec:go"
    assert manifest.defaults.runner == "local:exec"
    assert manifest.enabled_builders() == ["docker:go", "exec:go"]  # docker:generic disabled
    assert manifest.enabled_runners() == ["local:docker", "local:exec", "cluster:k8s"]
    assert manifest.builder_config("docker:go") == {
        "go_version": "1.16",
        "module_path": "github.com/testground/testground/plans/network",
    }
    assert manifest.runner_config("cluster:k8s") == {"keep_service": False}
    assert manifest.runner_config("not-there") == {}
    assert manifest.extra_sources == {"docker:go": ["../../sdk"]}
    ping = manifest.case("ping-pong")
    assert (ping.instances.min, ping.instances.max, ping.instances.default_count) == (2, 2, 2)
    assert ping.params["latency"].type == "duration"
    assert ping.params["topics"].default_text() == '[{"id":"blocks"}]'
    assert ping.params["label"].default_text() is None
    storm = manifest.case("storm")
    assert storm.roles == ["sender", "receiver"]
    assert storm.instances.default_count == 1  # no default: the minimum
    assert manifest.source == str(DATA / "network" / "manifest.toml")


def test_builder_config_is_a_copy() -> None:
    manifest = load_manifest(DATA / "network" / "manifest.toml")
    manifest.builder_config("docker:go")["go_version"] = "changed"
    assert manifest.builder_config("docker:go")["go_version"] == "1.16"


def test_section_without_enabled_counts_as_enabled(tmp_path: Path) -> None:
    manifest = load_manifest(write(tmp_path, MINIMAL)[0])
    assert manifest.enabled_builders() == ["exec:go"]
    assert manifest.enabled_runners() == ["local:exec"]


def test_case_without_instances_allows_any_count_from_one(tmp_path: Path) -> None:
    path, _ = write(tmp_path, 'name = "p"\n[[testcases]]\nname = "a"\n')
    bounds = load_manifest(path).case("a").instances
    assert bounds.allows(1) and bounds.allows(10_000) and not bounds.allows(0)
    assert bounds.describe() == "at least 1"


def test_unknown_case_lists_available_ones(tmp_path: Path) -> None:
    manifest = load_manifest(write(tmp_path, MINIMAL)[0])
    with pytest.raises(PlanError, match=r"no test case 'b'; available: a") as err:
        manifest.case("b")
    assert err.value.issues[0].source == str(tmp_path / "manifest.toml")


def test_unknown_key_names_table_line_and_expected_keys(tmp_path: Path) -> None:
    path, text = write(tmp_path, MINIMAL + '[[testcases]]\nname = "b"\ninstance = { min = 1 }\n')
    issue = only_issue(path)
    assert issue.field == "testcases#2.instance"
    assert issue.line == line_of(text, "instance = {")
    assert "unknown key 'instance' in [[testcases]] #2" in issue.problem
    assert "expected one of: name, instances, params, roles" in issue.problem


def test_wrong_type_says_expected_and_found(tmp_path: Path) -> None:
    path, text = write(tmp_path, MINIMAL.replace("min = 1,", 'min = "ten",'))
    issue = only_issue(path)
    assert issue.field == "testcases#1.instances.min"
    assert issue.line == line_of(text, "instances =")
    assert issue.problem == "expected an integer ≥ 1, found 'ten' (string)"
    assert str(issue) == f"{path}:6: testcases#1.instances.min: {issue.problem}"


@pytest.mark.parametrize(
    "instances",
    ["{ min = 3, max = 2 }", "{ min = 2, max = 4, default = 5 }", "{ min = 2, default = 1 }"],
)
def test_instance_bounds_must_be_ordered(tmp_path: Path, instances: str) -> None:
    path, text = write(tmp_path, MINIMAL.replace("{ min = 1, max = 4, default = 2 }", instances))
    issue = only_issue(path)
    assert issue.field == "testcases#1.instances"
    assert issue.line == line_of(text, "instances =")
    assert issue.problem.startswith("expected min ≤ default ≤ max, found min = ")


def test_unknown_param_type_lists_known_types(tmp_path: Path) -> None:
    path, text = write(tmp_path, MINIMAL + "  [testcases.params]\n  n = { type = 'integr' }\n")
    issue = only_issue(path)
    assert issue.field == "testcases#1.params.n.type"
    assert issue.line == line_of(text, "type = 'integr'")
    assert "expected one of int, float, bool, string, duration, json" in issue.problem
    assert "found 'integr'" in issue.problem


def test_testground_type_spellings_are_accepted(tmp_path: Path) -> None:
    params = "  [testcases.params]\n  s = { type = 'str', default = 'x' }\n"
    params += "  b = { type = 'boolean' }\n"
    case = load_manifest(write(tmp_path, MINIMAL + params)[0]).case("a")
    assert case.params["s"].type == "string"
    assert case.params["b"].type == "bool"


def test_default_must_fit_the_declared_type(tmp_path: Path) -> None:
    params = "  [testcases.params.delay]\n  type = 'duration'\n  default = 'soon'\n"
    path, text = write(tmp_path, MINIMAL + params)
    issue = only_issue(path)
    assert issue.field == "testcases#1.params.delay.default"
    assert issue.line == line_of(text, "default = 'soon'")
    assert "expected a duration" in issue.problem and "found 'soon' (string)" in issue.problem


def test_enum_needs_values(tmp_path: Path) -> None:
    path, _ = write(tmp_path, MINIMAL + "  [testcases.params]\n  mode = { type = 'enum' }\n")
    assert "values = [...] exactly when type = 'enum'" in only_issue(path).problem


def test_enabled_must_be_a_boolean(tmp_path: Path) -> None:
    path, text = write(
        tmp_path, MINIMAL.replace('[builders."exec:go"]', '[builders."exec:go"]\nenabled = "yes"')
    )
    issue = only_issue(path)
    assert issue.field == 'builders."exec:go".enabled'
    assert issue.line == line_of(text, 'enabled = "yes"')
    assert issue.problem == "expected true or false, found 'yes' (string)"


def test_duplicate_case_names_point_at_the_second(tmp_path: Path) -> None:
    path, text = write(tmp_path, MINIMAL + '[[testcases]]\nname = "a"\n')
    issue = only_issue(path)
    assert issue.field == "testcases#2.name"
    assert issue.line == line_of(text, 'name = "a"', 2)


def test_param_names_cannot_hold_separators(tmp_path: Path) -> None:
    path, _ = write(tmp_path, MINIMAL + "  [testcases.params]\n  'a|b' = { type = 'int' }\n")
    issue = only_issue(path)
    assert issue.field == 'testcases#1.params."a|b"'
    assert "without '=' or '|'" in issue.problem


def test_missing_name_and_cases_are_reported_together(tmp_path: Path) -> None:
    path, _ = write(tmp_path, "[defaults]\nbuilder = 'exec:go'\n")
    with pytest.raises(PlanError) as err:
        load_manifest(path)
    problems = [i.problem for i in err.value.issues]
    assert "missing required key 'name' in the top level" in problems
    assert "missing required key 'testcases' in the top level" in problems


def test_global_table_is_tolerated_and_reported(tmp_path: Path) -> None:
    # libp2p/test-plans ping/manifest.toml has one; Testground ignores it.
    path, _ = write(tmp_path, MINIMAL + "[global.build_config]\nenable_go_build_cache = true\n")
    manifest = load_manifest(path)
    assert manifest.ignored_keys() == ["global"]


def test_manifest_is_immutable(tmp_path: Path) -> None:
    manifest: Manifest = load_manifest(write(tmp_path, MINIMAL)[0])
    with pytest.raises(ValueError, match="frozen"):
        manifest.name = "other"  # type: ignore[misc]
