"""The plans a user has: the home folder's plan store, plan lookup by name or path,
and the scaffold ``choreo plan create`` writes.

Nothing outside the store is touched through it. A store name is one to
:data:`MAX_DEPTH` folder names of the whitelist in plan/path_names.py joined by ``/``
(``testground/placebo``, as Testground's imports of a folder of plans name them), so no
name holds ``..``, an empty part or a leading ``/``, and ``plans/<name>`` is always
inside the store; a new entry is only made below real folders of the store (never
through a link, never inside another plan). Removing an entry that is a link removes
the link, never what it points at. A
plan enters the store whole: it is assembled in a dot-folder of the store (which
:func:`list_plans` never shows) and renamed into place, and an import brings no link
that leaves the plan folder (such links would copy files from elsewhere, or point back
out of the store).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from choreograph.atomic import os_reason
from choreograph.errors import HostError, InputError, PlanError, PlanNotFoundError
from choreograph.plan.path_names import path_name_problem

if TYPE_CHECKING:
    from choreograph.plan.composition import Composition

MANIFEST = "manifest.toml"
_NOT_COPIED = ("__pycache__", "node_modules")
MAX_DEPTH = 4
"""Folder names in a store name (``a/b/c/d``), and how deep a listing looks."""

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
    if _name_problem(ref) is None and (plans_dir / ref / MANIFEST).is_file():
        return (plans_dir / ref).resolve()
    known = ", ".join(list_plans(plans_dir)) or "none yet"
    raise PlanNotFoundError(
        f"no plan {ref!r}: not a folder with a {MANIFEST}, and not in {plans_dir} "
        f"(plans there: {known}; `choreo plan import --from DIR` adds one)"
    )


def list_plans(plans_dir: Path) -> list[str]:
    """Names of the plans in the store, ``group/plan`` for plans in a folder of plans;
    dot-folders (imports under way) are not plans."""
    return sorted(_plans_below(plans_dir, ""))


def _plans_below(folder: Path, prefix: str, depth: int = 1) -> Iterator[str]:
    if depth > MAX_DEPTH or not folder.is_dir():
        return
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or path_name_problem(entry.name, "plan name"):
            continue
        if (entry / MANIFEST).is_file():
            yield prefix + entry.name
        else:
            yield from _plans_below(entry, f"{prefix}{entry.name}/", depth + 1)


def create_plan(name: str, plans_dir: Path) -> Path:
    target = _new_entry(name, plans_dir)
    with _staged(target, "create") as folder:
        (folder / MANIFEST).write_text(_SCAFFOLD_MANIFEST.format(name=name))
        (folder / "main.py").write_text(_SCAFFOLD_MAIN.format(name=name))
    return target


def import_plans(source: Path, plans_dir: Path, name: str | None = None) -> list[Path]:
    """Import ``source``: a plan folder (as :func:`import_plan`), or a folder holding
    plans, each then named ``<name>/<its path below source>`` (``name`` defaults to
    the folder's own name). Every name and every plan is checked before the first is
    copied, so a mistake leaves the store as it was."""
    if (source / MANIFEST).is_file():
        return [import_plan(source, plans_dir, name)]
    root = source.resolve()
    found = [p for p in _plan_folders(root) if p != root]
    if not found:
        raise PlanNotFoundError(
            f"{source} has no {MANIFEST}, nor any folder below it: not a plan folder"
        )
    prefix = name or root.name
    names = [f"{prefix}/{p.relative_to(root).as_posix()}" for p in found]
    hint = "" if name else " (or give --name)"
    for entry, folder in zip(names, found, strict=True):
        _new_entry(entry, plans_dir, hint)
        _plan_entries(folder)
    return [import_plan(p, plans_dir, entry) for entry, p in zip(names, found, strict=True)]


def _plan_folders(root: Path, depth: int = 1) -> Iterator[Path]:
    """Folders below ``root`` holding a manifest (not looking inside a plan)."""
    if (root / MANIFEST).is_file():
        yield root
        return
    if depth >= MAX_DEPTH:
        return
    for entry in sorted(root.iterdir()):
        hidden = entry.name.startswith(".") or entry.name in _NOT_COPIED
        if entry.is_dir() and not entry.is_symlink() and not hidden:
            yield from _plan_folders(entry, depth + 1)


def import_plan(source: Path, plans_dir: Path, name: str | None = None) -> Path:
    """Copy the plan folder ``source`` into the store, whole or not at all.

    Links are kept as links, each rewritten relative to where it sits so the copy does
    not point back into ``source``; InputError when a link leaves ``source`` or points
    nowhere, or when ``source`` holds a fifo, socket or device.
    """
    if not (source / MANIFEST).is_file():
        raise PlanNotFoundError(f"{source} has no {MANIFEST}: not a plan folder")
    root = source.resolve()
    target = _new_entry(name or root.name, plans_dir, hint="" if name else " (or give --name)")
    entries = _plan_entries(root)
    with _staged(target, "import") as folder:
        for path, link in entries:
            copy = folder / path.relative_to(root)
            if link is not None:
                copy.symlink_to(link)
            elif path.is_dir():
                copy.mkdir()
            else:
                # Not following links: a file swapped for one since the check is no way out.
                shutil.copy2(path, copy, follow_symlinks=False)
    return target


def remove_plan(name: str, plans_dir: Path) -> Path:
    """Remove the store entry ``name`` (a name, never a path): a plan, or a folder of
    plans (``testground``, all of ``testground/*``); a link is only unlinked."""
    _check_name(name, " (`choreo plan list` shows the plans in the store)")
    target = plans_dir / name
    if not (target / MANIFEST).is_file() and not list_plans(target):
        raise PlanNotFoundError(f"no plan {name!r} in {plans_dir}")
    if target.is_symlink():
        target.unlink()  # the folder it points at was never the store's
    else:
        shutil.rmtree(target)  # does not follow the links inside
    for parent in target.parents:  # folders of plans left empty go too
        if parent == plans_dir or not parent.is_relative_to(plans_dir):
            break
        with contextlib.suppress(OSError):
            parent.rmdir()
    return target


def _name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a store name, or None."""
    parts = name.split("/")
    for part in parts:
        problem = path_name_problem(part, "plan name")
        if problem and len(parts) > 1:
            # Said of the whole name, as the user wrote it; the rule is each part's.
            problem = problem.replace(repr(part), repr(name), 1) + " (in each part between '/')"
        if problem:
            return problem
    if len(parts) > MAX_DEPTH:
        return f"{name!r} is not a valid plan name: at most {MAX_DEPTH} parts joined by '/'"
    return None


def _check_name(name: str, hint: str = "") -> None:
    problem = _name_problem(name)
    if problem:
        raise InputError(problem + hint)


def _new_entry(name: str, plans_dir: Path, hint: str = "") -> Path:
    _check_name(name, hint)
    target = plans_dir / name
    if os.path.lexists(target):
        raise InputError(f"plan {name!r} already exists at {target} (`choreo plan rm {name}`)")
    for folder in reversed(target.parents):
        if not folder.is_relative_to(plans_dir) or folder == plans_dir:
            continue
        if folder.is_symlink() or (os.path.lexists(folder) and not folder.is_dir()):
            raise InputError(f"cannot add plan {name!r}: {folder} is not a folder of the store")
        if (folder / MANIFEST).is_file():
            raise InputError(f"cannot add plan {name!r} inside the plan at {folder}")
    return target


@contextlib.contextmanager
def _staged(target: Path, verb: str) -> Iterator[Path]:
    """A new empty folder next to ``target`` that becomes ``target`` when the block
    succeeds, and is removed when it fails: the store never holds half a plan."""
    folder = target.parent / f".{verb}-{secrets.token_hex(4)}"
    try:
        folder.mkdir(parents=True)
        yield folder
        os.rename(folder, target)
    except BaseException as exc:
        shutil.rmtree(folder, ignore_errors=True)
        if not isinstance(exc, OSError):
            raise
        if exc.errno in (errno.EEXIST, errno.ENOTEMPTY) and exc.filename == str(folder):
            problem = f"plan {target.name!r} was created at {target} meanwhile"
            raise InputError(problem) from None
        # Files of the half-made copy are gone with it: only name a file the user has.
        where = str(exc.filename or folder)
        at = "" if where.startswith(str(folder)) else f" (at {where})"
        raise HostError(f"cannot {verb} {target}: {os_reason(exc)}{at}") from exc


def _plan_entries(root: Path) -> list[tuple[Path, str | None]]:
    """Every folder, file and link below ``root``, parents first; for a link, what its
    copy points to (relative, inside the plan). InputError naming each link that leaves
    ``root`` or points nowhere, and each special file, all at once."""
    entries: list[tuple[Path, str | None]] = []
    problems: list[str] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in _NOT_COPIED]
        for name in (*dirs, *(f for f in files if f not in _NOT_COPIED)):
            path = Path(folder, name)
            shown = path.relative_to(root)
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                text = os.readlink(path)
                try:
                    points_to = path.resolve(strict=True)
                except (OSError, RuntimeError):  # missing, or a loop of links
                    problems.append(f"{shown} -> {text}: points to nothing")
                    continue
                if points_to.is_relative_to(root):
                    entries.append((path, os.path.relpath(points_to, path.parent)))
                else:
                    problems.append(f"{shown} -> {text}: {points_to} is outside the plan folder")
            elif stat.S_ISDIR(mode) or stat.S_ISREG(mode):
                entries.append((path, None))
            else:
                problems.append(f"{shown}: a fifo, socket or device, not a file")
    if problems:
        raise InputError(
            f"cannot import {root}: the store takes files, folders and links that stay "
            "inside the plan; replace these (copy the file in, or link inside the plan):\n  "
            + "\n  ".join(sorted(problems))
        )
    return entries


def composition_plan(composition: Composition, plans_dir: Path) -> Path:
    """The folder of the plan ``[global] plan`` names (a path is relative to the
    composition's folder); when there is none, a PlanError located at that key of the
    composition file, which is what the user has to fix."""
    where = Path(composition.source).resolve().parent if composition.source else None
    try:
        return find_plan(composition.global_.plan, plans_dir, relative_to=where)
    except PlanNotFoundError as exc:
        raise PlanError(composition.issue(("global", "plan"), str(exc))) from None
