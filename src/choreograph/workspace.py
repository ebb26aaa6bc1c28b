"""The plans a user has: the home folder's plan store, plan lookup by name or path,
and the scaffold ``choreo plan create`` writes."""

from __future__ import annotations

import shutil
from pathlib import Path

from choreograph.errors import InputError, PlanNotFoundError

MANIFEST = "manifest.toml"

_SCAFFOLD_MANIFEST = """\
name = "{name}"

[defaults]
builder = "exec:python"
runner = "local:exec"

[builders."exec:python"]
entry = "main.py"

[runners."local:exec"]

[[testcases]]
name = "quickstart"
instances = {{ min = 1, max = 1000, default = 2 }}

  [testcases.params.rounds]
  type = "int"
  desc = "how many barrier rounds every instance passes"
  default = 3
"""

_SCAFFOLD_MAIN = '''\
"""Test plan {name}: every instance passes `rounds` barriers together, then succeeds."""

from choreograph.sdk import InitContext, RunEnv, invoke_map


def quickstart(runenv: RunEnv, ctx: InitContext) -> None:
    rounds = runenv.int_param("rounds")
    for n in range(rounds):
        seq = ctx.sync_client.signal_and_wait(f"round-{{n}}", runenv.test_instance_count)
        runenv.record_message(f"round {{n}}: I was #{{seq}}")


if __name__ == "__main__":
    invoke_map({{"quickstart": quickstart}})
'''


def find_plan(ref: str, plans_dir: Path, relative_to: Path | None = None) -> Path:
    """A plan given as a folder path (absolute, or relative to ``relative_to``/cwd) or as
    the name of a plan in the store."""
    candidates = [Path(ref).expanduser()]
    if relative_to is not None:
        candidates.insert(0, relative_to / ref)
    for candidate in candidates:
        if (candidate / MANIFEST).is_file():
            return candidate.resolve()
        if candidate.is_dir() and ("/" in ref or ref.startswith(".")):
            raise PlanNotFoundError(f"{candidate} is a folder without a {MANIFEST}")
    if "/" not in ref and (plans_dir / ref / MANIFEST).is_file():
        return (plans_dir / ref).resolve()
    known = ", ".join(list_plans(plans_dir)) or "none yet"
    raise PlanNotFoundError(
        f"no plan {ref!r}: not a folder with a {MANIFEST}, and not in {plans_dir} "
        f"(plans there: {known}; `choreo plan import --from DIR` adds one)"
    )


def list_plans(plans_dir: Path) -> list[str]:
    if not plans_dir.is_dir():
        return []
    return sorted(p.name for p in plans_dir.iterdir() if (p / MANIFEST).is_file())


def create_plan(name: str, plans_dir: Path) -> Path:
    _check_name(name)
    target = plans_dir / name
    if target.exists():
        raise InputError(f"plan {name!r} already exists at {target}")
    target.mkdir(parents=True)
    (target / MANIFEST).write_text(_SCAFFOLD_MANIFEST.format(name=name))
    (target / "main.py").write_text(_SCAFFOLD_MAIN.format(name=name))
    return target


def import_plan(source: Path, plans_dir: Path, name: str | None = None) -> Path:
    if not (source / MANIFEST).is_file():
        raise PlanNotFoundError(f"{source} has no {MANIFEST}: not a plan folder")
    name = name or source.resolve().name
    _check_name(name)
    target = plans_dir / name
    if target.exists():
        raise InputError(f"plan {name!r} already exists at {target} (`choreo plan rm {name}`)")
    plans_dir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "node_modules"))
    return target


def remove_plan(name: str, plans_dir: Path) -> Path:
    target = plans_dir / name
    if not (target / MANIFEST).is_file():
        raise PlanNotFoundError(f"no plan {name!r} in {plans_dir}")
    shutil.rmtree(target)
    return target


def _check_name(name: str) -> None:
    if not name or "/" in name or name.startswith(".") or not name.isprintable():
        raise InputError(f"invalid plan name {name!r}: use letters, digits, '-', '_'")
