"""Build and run settings are read or reported, never ignored: a key no builder or runner
of the run reads is an error at the line that set it; a Testground Docker/cluster setting
is accepted with a warning."""

from __future__ import annotations

from pathlib import Path

import pytest

from choreograph import plugins
from choreograph.availability import TESTGROUND_ONLY, check_available, check_config_keys
from choreograph.errors import PlanError
from choreograph.plan import load_composition, load_manifest, resolve_composition
from choreograph.plan.spec import RunSpec

MANIFEST = """\
name = "p"
[defaults]
builder = "exec:python"
runner = "local:exec"
[builders."exec:python"]
entry = "main.py"
[builders."exec:go"]
module_path = "example.com/p"
[runners."local:exec"]
{runner_settings}
[[testcases]]
name = "c"
instances = {{ min = 1, max = 10 }}
"""


def spec_of(tmp_path: Path, composition: str, runner_settings: str = "") -> RunSpec:
    plan = tmp_path / "plan"
    plan.mkdir()
    (plan / "manifest.toml").write_text(MANIFEST.format(runner_settings=runner_settings))
    comp = tmp_path / "comp.toml"
    comp.write_text(f'[global]\nplan = "plan"\ncase = "c"\n{composition}')
    [spec] = resolve_composition(
        load_composition(comp),
        load_manifest(plan / "manifest.toml"),
        plan,
        test_params={},
        builder=None,
        runner=None,
    )
    return spec


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_every_builder_and_runner_declares_the_keys_it_reads() -> None:
    for registry in (plugins.BUILDERS, plugins.RUNNERS):
        for plugin_id in registry:
            keys = plugins.load(registry, plugin_id).config_keys
            assert isinstance(keys, tuple) and all(isinstance(k, str) for k in keys), plugin_id
            # A key both read and "ignored with a warning" would be a contradiction.
            assert not set(keys) & TESTGROUND_ONLY.get(plugin_id, frozenset()), plugin_id


def test_known_keys_pass_unchanged(tmp_path: Path) -> None:
    spec = spec_of(
        tmp_path,
        '[global.run_config]\nsample_interval = "200ms"\n'
        '[[groups]]\nid = "a"\ninstances = { count = 1 }\n'
        '[groups.build_config]\ninstaller = "uv"\n',
    )
    assert check_config_keys(spec) == spec


def test_every_unknown_key_is_reported_where_it_was_written(tmp_path: Path) -> None:
    spec = spec_of(
        tmp_path,
        '[global.build_config]\nmodfile = "go.v2.mod"\n'
        '[global.run_config]\nlauncher = "exec"\nsampel_interval = 1\n'
        '[[groups]]\nid = "a"\ninstances = { count = 1 }\n'
        '[groups.build_config]\nentrypoint = "x.py"\n',
        runner_settings='flavour = "x"',
    )
    comp, manifest = tmp_path / "comp.toml", tmp_path / "plan" / "manifest.toml"
    with pytest.raises(PlanError) as err:
        check_config_keys(spec)
    reads_python = "builder exec:python does not read {!r}; it reads: entry, installer"
    reads_local = (
        "runner local:exec does not read {!r}; it reads: launcher, sample_interval, memory_merge"
    )
    assert {(i.source, i.line, i.field, i.problem) for i in err.value.issues} == {
        (
            str(comp),
            line_of(comp, "modfile"),
            "global.build_config.modfile",
            reads_python.format("modfile"),
        ),
        (
            str(comp),
            line_of(comp, "entrypoint"),
            "groups#1.build_config.entrypoint",
            reads_python.format("entrypoint"),
        ),
        (
            str(comp),
            line_of(comp, "sampel_interval"),
            "global.run_config.sampel_interval",
            reads_local.format("sampel_interval"),
        ),
        (
            str(manifest),
            line_of(manifest, "flavour"),
            'runners."local:exec".flavour',
            reads_local.format("flavour"),
        ),
    }


def test_runs_groups_are_traced_to_the_group_they_are_built_from(tmp_path: Path) -> None:
    spec = spec_of(
        tmp_path,
        '[[groups]]\nid = "base"\ninstances = { count = 1 }\n'
        '[groups.build_config]\nentry = "main.py"\nentyr = "x.py"\n'
        '[[runs]]\nid = "r"\n[[runs.groups]]\nid = "renamed"\ngroup_id = "base"\n',
    )
    with pytest.raises(PlanError) as err:
        check_config_keys(spec)
    [issue] = err.value.issues
    line = line_of(tmp_path / "comp.toml", "entyr")
    assert (issue.field, issue.line) == ("groups#1.build_config.entyr", line)


def test_testground_docker_settings_are_accepted_with_a_warning(tmp_path: Path) -> None:
    spec = spec_of(
        tmp_path,
        '[global.build_config]\ngo_proxy_mode = "remote"\n'
        "[global.run_config]\nkeep_containers = true\n"
        '[[groups]]\nid = "a"\nbuilder = "exec:go"\ninstances = { count = 1 }\n',
    )
    checked = check_config_keys(spec)
    comp = tmp_path / "comp.toml"
    assert checked.warnings == (
        f"{comp}:5: global.build_config.go_proxy_mode: 'go_proxy_mode' is a setting of "
        "Testground's Docker and cluster backends; builder exec:go does the same work "
        "without it, so it is ignored",
        f"{comp}:7: global.run_config.keep_containers: 'keep_containers' is a setting of "
        "Testground's Docker and cluster backends; runner local:exec does the same work "
        "without it, so it is ignored",
    )


def test_a_run_wide_key_read_by_one_groups_builder_is_not_an_error(tmp_path: Path) -> None:
    spec = spec_of(
        tmp_path,
        '[global.build_config]\nexec_pkg = "."\n'
        '[[groups]]\nid = "go"\nbuilder = "exec:go"\ninstances = { count = 1 }\n'
        '[[groups]]\nid = "py"\ninstances = { count = 1 }\n',
    )
    assert check_config_keys(spec).warnings == ()


def test_the_engine_check_reports_unknown_keys_too(tmp_path: Path) -> None:
    spec = spec_of(
        tmp_path,
        '[global.run_config]\nlauncher = "exec"\nlaunch = "fork"\n'
        '[[groups]]\nid = "a"\ninstances = { count = 1 }\n',
    )
    with pytest.raises(PlanError, match="runner local:exec does not read 'launch'"):
        check_available(spec)
