"""Uploaded archives (plan folders, local dependency trees) and the limit on request
size. An archive is checked whole before anything is written: members with an absolute
name or a ``..`` component, links (symbolic or hard) that lead outside the archive, and
devices or fifos are refused, each named. Extraction then goes through tarfile's
``data`` filter (a second line behind the check) into a staging folder; the caller
renames the staging folder into place, so nothing half-extracted is ever used.
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import tarfile
from pathlib import Path
from typing import IO

from starlette.datastructures import UploadFile

from choreograph.daemon.inputs import TaskFolder
from choreograph.errors import InputError

MIB = 1 << 20
UNPACKED_FACTOR = 8
"""An archive may unpack to at most this many times the upload limit (gzip bombs)."""


class UploadError(InputError):
    """An uploaded archive Choreograph refuses; the message names every bad member."""


def extract(archive: IO[bytes], target: Path, max_bytes: int, what: str) -> None:
    """Check ``archive`` (tar.gz) and extract it into the new folder ``target``."""
    try:
        with tarfile.open(fileobj=archive, mode="r:gz") as tar:
            members = tar.getmembers()
            _check(members, max_bytes * UNPACKED_FACTOR, what)
            target.mkdir(parents=True)
            tar.extractall(target, filter="data")
    except tarfile.FilterError as exc:
        raise UploadError(f"{what}: refused: {exc}") from None
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise UploadError(f"{what}: not a readable tar.gz archive ({exc})") from None


def _check(members: list[tarfile.TarInfo], max_unpacked: int, what: str) -> None:
    problems = [p for m in members if (p := _member_problem(m))]
    total = sum(m.size for m in members if m.isfile())
    if total > max_unpacked:
        problems.append(f"unpacks to {total} bytes, over the limit of {max_unpacked}")
    if problems:
        raise UploadError(f"{what}: refused:\n  " + "\n  ".join(problems))


def _member_problem(member: tarfile.TarInfo) -> str:
    name = member.name
    if name.startswith("/") or posixpath.isabs(name):
        return f"{name}: an absolute path"
    if ".." in Path(name).parts:
        return f"{name}: a path with '..'"
    if member.isdev() or member.isfifo():
        return f"{name}: a device or fifo, not a file"
    if member.issym() or member.islnk():
        base = posixpath.dirname(name) if member.issym() else ""
        if posixpath.isabs(member.linkname):
            return f"{name} -> {member.linkname}: a link to an absolute path"
        resolved = posixpath.normpath(posixpath.join(base, member.linkname))
        if resolved == ".." or resolved.startswith("../"):
            return f"{name} -> {member.linkname}: a link leading outside the archive"
    return ""


def stage_inputs(
    tasks_dir: Path,
    task_id: str,
    plan: UploadFile,
    composition: UploadFile | None,
    deps: list[UploadFile],
    max_bytes: int,
) -> TaskFolder:
    """Extract a submission into a staging folder, then rename it to the task's folder:
    the task's inputs appear whole or not at all."""
    staging = tasks_dir / f".incoming-{task_id}"
    inputs = staging / "inputs"
    try:
        extract(plan.file, inputs / "plan", max_bytes, "plan archive")
        if composition is not None:
            name = Path(composition.filename or "composition.toml").name
            if not name or name.startswith("."):
                raise UploadError(f"composition file name {composition.filename!r}")
            (inputs / "composition").mkdir()
            with (inputs / "composition" / name).open("wb") as out:
                shutil.copyfileobj(composition.file, out)
        names = []
        for n, dep in enumerate(deps):
            names.append(dep.filename or "")
            extract(dep.file, inputs / "deps" / str(n), max_bytes, f"dependency {dep.filename}")
        (inputs / "deps.json").write_text(json.dumps(names))
        os.rename(staging, tasks_dir / task_id)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return TaskFolder(tasks_dir / task_id)
