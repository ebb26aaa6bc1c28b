"""``testground plan create|import|rm|list`` over Choreograph's plan store (workspace.py),
which for this command is ``$TESTGROUND_HOME/plans``.

Testground's import links the source folder into the store; Choreograph's copies it (the
store holds whole plans, see workspace.py), so re-import after editing a plan. As in
Testground, importing over an existing name warns and succeeds (scripts import the same
folder before every test).
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from choreograph import workspace
from choreograph.cli.reporting import reported
from choreograph.cli.testground import lines
from choreograph.config import load_settings
from choreograph.errors import HostError, InputError
from choreograph.plan import load_manifest

plan_app = typer.Typer(no_args_is_help=True, help="manage the plans known to the client")

PlanOption = Annotated[str, typer.Option("--plan", "-p", help="NAME of the plan.")]


@plan_app.command("create")
def create(
    plan: PlanOption,
    target: Annotated[str, typer.Option("--target", help="Template LANGUAGE.")] = "go",
    module: Annotated[str, typer.Option("--module", help="Accepted; unused.")] = "",
    remote: Annotated[str, typer.Option("--remote", help="Accepted; unused.")] = "",
) -> None:
    """creates a new test plan (Choreograph's scaffold: a Python plan)"""
    with reported():
        path = workspace.create_plan(plan, load_settings().plans_dir)
    if target != "python":
        lines.warn(f"--target {target}: Choreograph's scaffold is a Python plan")
    lines.plain(f"new test plan created under: {path}")


@plan_app.command("import")
def import_(
    source: Annotated[str, typer.Option("--from", help="A path, or a Git remote with --git.")],
    git: Annotated[bool, typer.Option("--git", help="import from a git repository")] = False,
    name: Annotated[str | None, typer.Option("--name", help="NAME of the plan folder.")] = None,
) -> None:
    """import a plan, or a folder of plans, into $TESTGROUND_HOME/plans"""
    with reported():
        plans_dir = load_settings().plans_dir
        base = name or Path(source.rstrip("/")).name.removesuffix(".git")
        if (plans_dir / base).exists() or (plans_dir / base).is_symlink():
            lines.warn("destination dir already exists", path=str(plans_dir / base))
            return
        with tempfile.TemporaryDirectory(prefix="testground-import-") as scratch:
            folder = _clone(source, Path(scratch) / base) if git else Path(source)
            paths = workspace.import_plans(folder, plans_dir, base)
    lines.plain("imported plans:")
    print_plans([p.relative_to(plans_dir).as_posix() for p in paths], plans_dir, testcases=True)


def _clone(remote: str, target: Path) -> Path:
    done = subprocess.run(
        ["git", "clone", "--depth", "1", "--", remote, str(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise HostError(f"could not clone {remote}: {done.stderr.strip()}")
    return target


@plan_app.command("rm")
def rm(
    plan: PlanOption,
    yes: Annotated[bool, typer.Option("--yes", help="confirm removal")] = False,
) -> None:
    """remove a plan (or a folder of plans) from $TESTGROUND_HOME/plans"""
    if not yes:
        lines.plain("really delete? pass --yes flag to confirm.")
        return
    with reported():
        path = workspace.remove_plan(plan, load_settings().plans_dir)
    lines.plain(f"plan at {path} removed.")


@plan_app.command("list")
def list_(
    testcases: Annotated[bool, typer.Option("--testcases", help="display testcases")] = False,
) -> None:
    """enumerate all test plans or test cases known to the client"""
    with reported():
        plans_dir = load_settings().plans_dir
        print_plans(workspace.list_plans(plans_dir), plans_dir, testcases)


def print_plans(names: list[str], plans_dir: Path, testcases: bool) -> None:
    """One line per plan, or ``plan case`` per test case (Testground's columns)."""
    rows: list[tuple[str, str]] = []
    for name in names:
        if not testcases:
            rows.append((name, ""))
            continue
        try:
            manifest = load_manifest(plans_dir / name / workspace.MANIFEST)
        except InputError as exc:
            lines.warn(f"{name}: {exc}")
            continue
        rows += [(name, case.name) for case in manifest.testcases]
    width = max((len(plan) for plan, _ in rows), default=0)
    for plan, case in rows:
        lines.plain(f"{plan.ljust(width)} {case}".rstrip())
