"""The compositions the ``testground`` command hands to Choreograph's ``run
composition``: as Testground does, ``run single`` and ``build single`` become a synthetic
composition of one group, ``single``; and every composition gets the ``.env.toml``
runner settings as its lowest layer of run configuration.

Going through a composition file keeps one path for embedded runs and for runs sent to
a daemon (whose API takes a composition, not loose run settings), and one resolution
(the ``choreo run composition`` one) for both commands.
"""

from __future__ import annotations

import ast
import copy
import tempfile
import tomllib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from choreograph import workspace
from choreograph.cli.testground import toml_write
from choreograph.cli.testground.config import EnvConfig
from choreograph.config import Settings
from choreograph.errors import InputError
from choreograph.plan import load_manifest
from choreograph.plan.spec import RunSpec

SINGLE = "run-single-flags.toml"
"""The name of ``run single``'s synthetic composition, as errors cite it."""


def key_values(items: Iterable[str], flag: str) -> dict[str, str]:
    """``KEY=VALUE`` items (the value may hold ``=``); InputError for one without ``=``."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise InputError(f"{flag} {item!r}: expected KEY=VALUE")
        out[key] = value
    return out


def typed(values: dict[str, str]) -> dict[str, Any]:
    """Testground's reading of ``--build-cfg``/``--run-cfg`` values: an integer, else a
    float, else a boolean, else a quoted string unquoted, else the text itself."""
    return {key: _typed(value) for key, value in values.items()}


def _typed(text: str) -> Any:
    for parse in (int, float):
        try:
            return parse(text)
        except ValueError:
            pass
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'`":
        try:
            return str(ast.literal_eval(text)) if text[0] != "`" else text[1:-1]
        except (ValueError, SyntaxError):
            return text
    return text


@dataclass(frozen=True)
class Single:
    """What ``run single``/``build single`` were asked."""

    plan: str
    case: str = ""
    instances: int = 0
    builder: str = ""
    runner: str = ""
    build_cfg: tuple[str, ...] = ()
    run_cfg: tuple[str, ...] = ()
    test_params: tuple[str, ...] = ()
    use_build: str = ""
    deps: tuple[str, ...] = ()
    disable_metrics: bool = False


def single_composition(asked: Single) -> dict[str, Any]:
    """The synthetic composition of ``asked``: one group, ``single``."""
    glob: dict[str, Any] = {"plan": asked.plan, "case": asked.case}
    for key in ("builder", "runner"):
        if getattr(asked, key):
            glob[key] = getattr(asked, key)
    if asked.instances:
        glob["total_instances"] = asked.instances
    if asked.disable_metrics:
        glob["disable_metrics"] = True
    glob["build_config"] = typed(key_values(asked.build_cfg, "--build-cfg"))
    glob["run_config"] = typed(key_values(asked.run_cfg, "--run-cfg"))
    group: dict[str, Any] = {"id": "single"}
    if asked.instances:
        group["instances"] = {"count": asked.instances}
    group["run"] = {"test_params": key_values(asked.test_params, "--test-param")}
    if asked.use_build:
        group["run"]["artifact"] = asked.use_build
    if asked.deps:
        group["build"] = {"dependencies": [_dependency(d) for d in asked.deps]}
    return {"metadata": {"name": f"{asked.plan}:{asked.case}"}, "global": glob, "groups": [group]}


def _dependency(text: str) -> dict[str, str]:
    """``--dep MODULE=TARGET@VERSION`` (Testground's: TARGET, a replacement module, may be
    empty) or ``MODULE=VERSION``, as a composition's dependency."""
    module, sep, rest = text.partition("=")
    if not sep or not module or not rest:
        raise InputError(f"--dep {text!r}: expected MODULE=TARGET@VERSION or MODULE=VERSION")
    target, at, version = rest.partition("@")
    if not at:
        return {"module": module, "version": rest}
    dep = {"module": module}
    if target:
        dep["target"] = target
    if version:
        dep["version"] = version
    return dep


def read(file: Path) -> dict[str, Any]:
    """A composition file's data, with its relative plan and dependency paths made
    absolute (it is rewritten elsewhere); InputError when it cannot be read."""
    try:
        data = tomllib.loads(file.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"{file}: cannot read it as a composition: {exc}") from None
    folder = file.resolve().parent
    glob = data.get("global")
    if isinstance(glob, dict) and isinstance(glob.get("plan"), str):
        local = folder / glob["plan"]
        if (local / workspace.MANIFEST).is_file():
            glob["plan"] = str(local.resolve())
    builds = [glob.get("build") if isinstance(glob, dict) else None]
    builds += [g.get("build") for g in data.get("groups", []) if isinstance(g, dict)]
    for build in builds:
        for dep in build.get("dependencies", []) if isinstance(build, dict) else []:
            if isinstance(dep, dict) and isinstance(dep.get("path"), str):
                dep["path"] = str((folder / Path(dep["path"]).expanduser()).resolve())
    return data


def with_env_runner_config(data: dict[str, Any], env: EnvConfig, plans_dir: Path) -> dict[str, Any]:
    """A copy of ``data`` with the ``.env.toml`` table of its runner under everything
    else: Testground's order is ``.env.toml`` < manifest < composition < flags."""
    data = copy.deepcopy(data)
    glob = data.setdefault("global", {})
    _spread_global_build_config(data)
    chosen = runner_of(data, plans_dir)
    from_env = env.runner_config(chosen) if chosen else {}
    if from_env:
        manifest = _manifest_runner_config(glob.get("plan", ""), plans_dir, chosen)
        glob["run_config"] = {**from_env, **manifest, **glob.get("run_config", {})}
    return data


def _spread_global_build_config(data: dict[str, Any]) -> None:
    """Testground merges ``[global.build_config]`` into each group's, and each builder
    reads the keys it knows: a composition mixing builders (``docker:go`` groups and
    ``docker:generic`` ones, issue 1493) sets Go keys globally. When some group's builder
    is not the global one, the global keys go into each group, those its builder reads."""
    from choreograph import plugins
    from choreograph.availability import config_keys

    glob = data.get("global", {})
    shared = glob.get("build_config")
    builders = {str(g.get("builder") or glob.get("builder") or "") for g in data.get("groups", [])}
    if not shared or builders <= {str(glob.get("builder") or "")}:
        return
    for group in data.get("groups", []):
        builder = str(group.get("builder") or glob.get("builder") or "")
        if builder not in plugins.BUILDERS:
            return  # resolution reports it
        reads = set(config_keys(plugins.BUILDERS, builder))
        own = group.setdefault("build_config", {})
        group["build_config"] = {**{k: v for k, v in shared.items() if k in reads}, **own}
    del glob["build_config"]


def runner_of(data: dict[str, Any], plans_dir: Path) -> str:
    """The runner the composition names, else its plan's default one ("" if unknown)."""
    glob = data.get("global", {})
    return str(glob.get("runner") or _manifest_runner(glob.get("plan", ""), plans_dir))


def _manifest_runner(plan: str, plans_dir: Path) -> str:
    try:
        manifest = load_manifest(workspace.find_plan(plan, plans_dir) / workspace.MANIFEST)
    except InputError:
        return ""  # resolution reports it, with the composition's line
    return manifest.defaults.runner or ""


def _manifest_runner_config(plan: str, plans_dir: Path, runner: str) -> dict[str, Any]:
    try:
        manifest = load_manifest(workspace.find_plan(plan, plans_dir) / workspace.MANIFEST)
    except InputError:
        return {}
    return dict(manifest.runner_config(runner))


@contextmanager
def written(data: dict[str, Any], name: str) -> Iterator[Path]:
    """``data`` as a composition file ``name`` in a temporary folder, removed afterwards
    (named for where its content came from, as errors cite it)."""
    with tempfile.TemporaryDirectory(prefix="testground-") as folder:
        file = Path(folder) / name
        file.write_text(toml_write.dumps(data))
        yield file


def resolver(data: dict[str, Any], name: str) -> Callable[[Settings], list[RunSpec]]:
    """What ``choreo run composition`` resolves for the composition ``data`` (the
    ``.env.toml`` runner settings merged in): one spec per run."""
    from choreograph.cli.app import composition_specs
    from choreograph.cli.testground import session

    def resolve(settings: Settings) -> list[RunSpec]:
        merged = with_env_runner_config(data, session.env(), settings.plans_dir)
        with written(merged, name) as file:
            return composition_specs(file, settings, [], None, None)

    return resolve


def write_artifacts(file: Path, artifacts: dict[str, str]) -> None:
    """Testground's ``--write-artifacts``: each built group's ``[groups.run] artifact``
    set in the composition file itself (rewritten: comments are not kept)."""
    data = tomllib.loads(file.read_text())
    for group in data.get("groups", []):
        if group.get("id") in artifacts:
            group.setdefault("run", {})["artifact"] = artifacts[group["id"]]
    file.write_text(toml_write.dumps(data))
