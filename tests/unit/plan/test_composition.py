"""Compositions: Testground's schema incl. [[runs]], instance maths, and every rejection."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from choreograph.errors import Issue, PlanError
from choreograph.plan import load_composition

DATA = Path(__file__).parent / "data"

HEAD = """\
[global]
plan = "network"
case = "ping-pong"
"""


def write(tmp_path: Path, text: str) -> tuple[Path, str]:
    text = textwrap.dedent(text)
    path = tmp_path / "composition.toml"
    path.write_text(text)
    return path, text


def line_of(text: str, needle: str, nth: int = 1) -> int:
    return [i for i, line in enumerate(text.splitlines(), 1) if needle in line][nth - 1]


def issues_of(path: Path) -> list[Issue]:
    with pytest.raises(PlanError) as err:
        load_composition(path)
    return err.value.issues


def only_issue(path: Path) -> Issue:
    issues = issues_of(path)
    assert len(issues) == 1, issues
    return issues[0]


def test_realistic_composition_parses() -> None:
    comp = load_composition(DATA / "network" / "_compositions" / "ping-pong.toml")
    g = comp.global_
    assert (comp.metadata.name, comp.metadata.author) == ("ping-pong-mixed", "choreograph")
    assert (g.plan, g.case, g.builder, g.runner) == (
        "network",
        "ping-pong",
        "exec:go",
        "local:docker",
    )
    assert (g.total_instances, g.concurrent_builds) == (2, 1)
    assert g.build_config == {"enable_go_build_cache": False, "go_proxy_mode": "remote"}
    assert g.build.dependencies[0].module == "github.com/testground/sdk-go"
    assert g.run.test_params == {"iterations": "10"}
    pinger, ponger = comp.groups
    assert pinger.run.test_params == {"latency": "250ms", "client_mode": True}
    assert ponger.builder == "docker:go"
    assert ponger.resources.as_strings() == {"memory": "512Mi", "cpu": "1"}
    assert ponger.build.dependencies[0].version == "master"
    assert "[not.a.table]" in ponger.build_config["dockerfile_extensions"]["pre_build"]
    (run,) = comp.plan_runs()
    assert run.id == "default"
    assert [(p.id, p.instances) for p in run.groups] == [("pinger", 1), ("ponger", 1)]


def with_groups(total: int, **instances: str) -> str:
    """A composition with ``total_instances`` and one group per keyword: id = instances."""
    body = HEAD + f"total_instances = {total}\n"
    return body + "".join(
        f'[[groups]]\nid = "{g}"\ninstances = {i}\n' for g, i in instances.items()
    )


@pytest.mark.parametrize(
    ("total", "instances", "expected"),
    [
        # 0.25 * 2 = 0.5 → 1 as Go's math.Round (Python's round() would give 0).
        (2, {"a": "{ percentage = 0.25 }", "b": "{ percentage = 0.5 }"}, [1, 1]),
        (8, {"a": "{ percentage = 0.75 }", "b": "{ count = 2 }"}, [6, 2]),
    ],
)
def test_percentages_become_counts(
    tmp_path: Path, total: int, instances: dict[str, str], expected: list[int]
) -> None:
    (run,) = load_composition(write(tmp_path, with_groups(total, **instances))[0]).plan_runs()
    assert [p.instances for p in run.groups] == expected


@pytest.mark.parametrize(
    ("total", "instances", "summary"),
    [
        # 2.5 → 3 and 3.5 → 4 (Go's math.Round), 4: 11 instances for a total of 10.
        (10, {"a": 0.25, "b": 0.35, "c": 0.4}, "11 instances (a = 3, b = 4, c = 4)"),
        (5, {"a": "{ count = 2 }"}, "2 instances (a = 2)"),
    ],
)
def test_counts_must_add_up_to_a_given_total(
    tmp_path: Path, total: int, instances: dict[str, object], summary: str
) -> None:
    spelled = {
        g: i if isinstance(i, str) else f"{{ percentage = {i} }}" for g, i in instances.items()
    }
    path, text = write(tmp_path, with_groups(total, **spelled))
    issue = only_issue(path)
    assert issue.field == "global.total_instances"
    assert issue.line == line_of(text, "total_instances")
    assert issue.problem == f"the groups add up to {summary}, but total_instances is {total}"


def test_count_alone_needs_no_total(tmp_path: Path) -> None:
    body = HEAD + "[[groups]]\nid = 'a'\ninstances = { count = 3 }\n"
    (run,) = load_composition(write(tmp_path, body)[0]).plan_runs()
    assert run.groups[0].instances == 3


def test_percentage_without_total_is_an_error(tmp_path: Path) -> None:
    path, text = write(tmp_path, HEAD + "[[groups]]\nid = 'a'\ninstances = { percentage = 0.5 }\n")
    issue = only_issue(path)
    assert issue.field == "groups#1.instances"
    assert issue.line == line_of(text, "percentage")
    assert issue.problem == "percentage = 0.5 needs total_instances in [global], found none"


def test_percentage_rounding_to_zero_is_an_error(tmp_path: Path) -> None:
    body = HEAD + "total_instances = 4\n[[groups]]\nid = 'a'\ninstances = { percentage = 0.1 }\n"
    assert "rounds to 0 for group 'a'" in only_issue(write(tmp_path, body)[0]).problem


@pytest.mark.parametrize(
    ("instances", "found"),
    [
        ("{ count = 2, percentage = 0.5 }", "found count = 2, percentage = 0.5"),
        ("{}", "found count = 0, percentage = 0.0"),
    ],
)
def test_count_xor_percentage(tmp_path: Path, instances: str, found: str) -> None:
    path, text = write(tmp_path, HEAD + f"[[groups]]\nid = 'a'\ninstances = {instances}\n")
    issue = only_issue(path)
    assert issue.field == "groups#1.instances"
    assert issue.line == line_of(text, "instances =")
    assert issue.problem.startswith("expected either count ≥ 1 or 0 < percentage ≤ 1 (not both)")
    assert found in issue.problem


def test_zero_percentage_next_to_a_count_is_unset(tmp_path: Path) -> None:
    # As libp2p's dht compositions (written by Testground's TOML encoder) spell it.
    body = HEAD + "[[groups]]\nid = 'a'\n[groups.instances]\ncount = 16\npercentage = 0.0\n"
    assert load_composition(write(tmp_path, body)[0]).plan_runs()[0].groups[0].instances == 16


def test_percentage_is_a_fraction(tmp_path: Path) -> None:
    body = HEAD + "total_instances = 2\n[[groups]]\nid = 'a'\ninstances = { percentage = 50 }\n"
    issue = only_issue(write(tmp_path, body)[0])
    assert issue.field == "groups#1.instances.percentage"
    assert issue.problem == "expected a number in [0.0, 1.0], found 50 (integer)"


def test_count_type_error_names_line_found_and_expected(tmp_path: Path) -> None:
    body = HEAD + "[[groups]]\nid = 'a'\ninstances = { count = 1 }\n"
    body += "[[groups]]\nid = 'b'\n[groups.instances]\ncount = 'ten'\n"
    path, text = write(tmp_path, body)
    issue = only_issue(path)
    assert issue.field == "groups#2.instances.count"
    assert issue.line == line_of(text, "count = 'ten'")
    assert issue.problem == "expected an integer ≥ 0, found 'ten' (string)"


def test_unknown_key_in_a_group(tmp_path: Path) -> None:
    body = HEAD + "[[groups]]\nid = 'a'\ninstances = { count = 1 }\n"
    body += "[[groups]]\nid = 'b'\ninstances = { count = 1 }\nbuidler = 'exec:go'\n"
    path, text = write(tmp_path, body)
    issue = only_issue(path)
    assert issue.field == "groups#2.buidler"
    assert issue.line == line_of(text, "buidler")
    assert issue.problem.startswith(
        "unknown key 'buidler' in [[groups]] #2; expected one of: id, builder"
    )


def test_unknown_key_in_global_and_metadata(tmp_path: Path) -> None:
    body = "[metadata]\nname = 'x'\nversion = 2\n" + HEAD + "runners = 'x'\n"
    body += "[[groups]]\nid = 'a'\ninstances = { count = 1 }\n"
    path, text = write(tmp_path, body)
    got = {(i.field, i.line) for i in issues_of(path)}
    assert got == {
        ("metadata.version", line_of(text, "version")),
        ("global.runners", line_of(text, "runners")),
    }


@pytest.mark.parametrize(
    ("table", "field"),
    [
        ("[global.run.profiles]\ncpu = '*'\n", "global.run.profiles"),
        ("[groups.run.profiles]\nheap = '5s'\n", "groups#1.run.profiles"),
    ],
)
def test_profiles_are_not_supported_yet(tmp_path: Path, table: str, field: str) -> None:
    if table.startswith("[global"):
        body = HEAD + table + "[[groups]]\nid = 'a'\ninstances = { count = 1 }\n"
    else:
        body = HEAD + "[[groups]]\nid = 'a'\ninstances = { count = 1 }\n" + table
    path, text = write(tmp_path, body)
    issue = only_issue(path)
    assert issue.field == field
    assert issue.line == line_of(text, "profiles")
    assert "is part of Testground's format but not supported by Choreograph yet" in issue.problem


def test_missing_case_and_groups(tmp_path: Path) -> None:
    path, _ = write(tmp_path, "[global]\nplan = 'network'\n")
    problems = {i.problem for i in issues_of(path)}
    assert problems == {
        "missing required key 'case' in [global]",
        "missing required key 'groups' in the top level",
    }


def test_duplicate_group_ids(tmp_path: Path) -> None:
    body = HEAD + "[[groups]]\nid = 'a'\ninstances = { count = 1 }\n" * 2
    path, text = write(tmp_path, body)
    issue = only_issue(path)
    assert issue.field == "groups#2.id"
    assert issue.line == line_of(text, "id = 'a'", 2)
    assert issue.problem == "expected unique ids, found 'a' again"


def test_dependency_needs_version_or_path(tmp_path: Path) -> None:
    body = HEAD + "[[groups]]\nid = 'a'\ninstances = { count = 1 }\n"
    body += "[[groups.build.dependencies]]\nmodule = 'github.com/x/y'\n"
    path, text = write(tmp_path, body)
    issue = only_issue(path)
    assert issue.field == "groups#1.build.dependencies#1"
    assert issue.line == line_of(text, "[[groups.build.dependencies]]")
    assert "expected version or path for module 'github.com/x/y'" in issue.problem


def test_local_path_dependency_is_our_extension(tmp_path: Path) -> None:
    body = HEAD + "[[groups]]\nid = 'a'\ninstances = { count = 1 }\n"
    body += "[groups.build]\ndependencies = [{ module = 'mylib', path = '../mylib' }]\n"
    comp = load_composition(write(tmp_path, body)[0])
    assert comp.groups[0].build.dependencies[0].path == "../mylib"


RUNS = (
    HEAD
    + """\
[[groups]]
id = "go"
instances = { count = 1 }
[groups.run.test_params]
latency = "1s"

[[groups]]
id = "generic"

[[runs]]
id = "small"
  [[runs.groups]]
  id = "go"

[[runs]]
id = "many"
total_instances = 4
  [runs.test_params]
  latency = "2s"
  [[runs.groups]]
  id = "a"
  group_id = "go"
  instances = { percentage = 0.5 }
  [[runs.groups]]
  id = "b"
  group_id = "generic"
  instances = { count = 2 }
  [runs.groups.resources]
  memory = "1Gi"
  [runs.groups.test_params]
  latency = "3s"
"""
)


def test_runs_pick_groups_and_settle_counts(tmp_path: Path) -> None:
    small, many = load_composition(write(tmp_path, RUNS)[0]).plan_runs()
    assert small.id == "small" and small.path == ("runs", 0)
    assert [(p.id, p.group_index, p.instances) for p in small.groups] == [("go", 0, 1)]
    assert [(p.id, p.group_index, p.instances) for p in many.groups] == [("a", 0, 2), ("b", 1, 2)]
    assert many.groups[1].resources == {"memory": "1Gi"}
    layers = [(layer.table, dict(layer.values)) for layer in many.groups[1].param_layers]
    assert layers == [
        ("global.run.test_params", {}),
        ("groups#2.run.test_params", {}),
        ("runs#2.test_params", {"latency": "2s"}),
        ("runs#2.groups#2.test_params", {"latency": "3s"}),
    ]


def test_run_group_must_name_a_group(tmp_path: Path) -> None:
    path, text = write(tmp_path, RUNS.replace('group_id = "generic"', 'group_id = "rust"'))
    issue = only_issue(path)
    assert issue.field == "runs#2.groups#2.group_id"
    assert issue.line == line_of(text, 'group_id = "rust"')
    assert issue.problem == "expected the id of a [[groups]] entry (go, generic), found 'rust'"


def test_run_group_without_instances_anywhere(tmp_path: Path) -> None:
    text = RUNS.replace('  [[runs.groups]]\n  id = "go"\n', '  [[runs.groups]]\n  id = "generic"\n')
    issue = only_issue(write(tmp_path, text)[0])
    assert issue.field == "runs#1.groups#1"
    assert "expected instances = { count = N } for group 'generic'" in issue.problem


def test_run_total_is_the_runs_own(tmp_path: Path) -> None:
    # a = 0.5 * 6 = 3, b = 2: 5 instances, whatever [global] says.
    path, text = write(tmp_path, RUNS.replace("total_instances = 4", "total_instances = 6"))
    issue = only_issue(path)
    assert issue.field == "runs#2.total_instances"
    assert issue.line == line_of(text, "total_instances = 6")
    assert (
        issue.problem == "the groups add up to 5 instances (a = 3, b = 2), but total_instances is 6"
    )


def test_duplicate_run_ids(tmp_path: Path) -> None:
    path, _ = write(tmp_path, RUNS.replace('id = "many"', 'id = "small"'))
    assert only_issue(path).field == "runs#2.id"


def test_profiles_in_a_run_group_are_not_supported_yet(tmp_path: Path) -> None:
    path, _ = write(tmp_path, RUNS + "  [runs.groups.profiles]\n  cpu = '*'\n")
    issue = only_issue(path)
    assert issue.field == "runs#2.groups#2.profiles"
    assert "not supported by Choreograph yet" in issue.problem


def test_every_problem_is_reported_in_file_order(tmp_path: Path) -> None:
    body = HEAD + 'total_instances = "2"\ndisable_metrics = "yes"\n'
    body += "[global.build]\nselector = ['a']\n[groups]\nid = 'a'\n"
    path, text = write(tmp_path, body)
    got = [(i.field, i.line, i.problem) for i in issues_of(path)]
    assert got == [
        (
            "global.total_instances",
            line_of(text, "total_instances"),
            "expected an integer ≥ 0, found '2' (string)",
        ),
        (
            "global.disable_metrics",
            line_of(text, "disable_metrics"),
            "expected true or false, found 'yes' (string)",
        ),
        (
            "global.build.selector",
            line_of(text, "selector"),
            "unknown key 'selector' in [global.build]; expected one of: selectors, dependencies",
        ),
        (
            "groups",
            line_of(text, "[groups]"),
            "expected [[groups]] entries (an array of tables), found a single table",
        ),
    ]


def test_a_run_needs_groups(tmp_path: Path) -> None:
    body = (
        HEAD + "[[groups]]\nid = 'a'\ninstances = { count = 1 }\n[[runs]]\nid = 'r'\ngroups = []\n"
    )
    issue = only_issue(write(tmp_path, body)[0])
    assert (issue.field, issue.problem) == (
        "runs#1.groups",
        "expected at least 1 entry, found none",
    )
