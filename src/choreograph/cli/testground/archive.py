"""A daemon's run archive renamed for the task id: Testground's archive ``<id>.tgz``
holds ``<id>/<group>/<n>/…`` with the id scripts were given, while a Choreograph
daemon's archive is named inside for the run its task made."""

from __future__ import annotations

import tarfile
from pathlib import Path

from choreograph import atomic


def rename_top(archive: Path, top: str) -> None:
    """Rewrite ``archive`` so its single top folder is ``top``; members other than
    folders and regular files are left out (collect_run archives no others)."""
    with tarfile.open(archive, "r:gz") as source:
        members = source.getmembers()
        tops = {m.name.split("/", 1)[0] for m in members}
        if len(tops) != 1 or tops == {top}:
            return
        (old,) = tops
        with atomic.replacing(archive) as out, tarfile.open(fileobj=out, mode="w:gz") as target:
            for member in members:
                if not (member.isdir() or member.isfile()):
                    continue
                data = source.extractfile(member) if member.isfile() else None
                member.name = top + member.name[len(old) :]
                target.addfile(member, data)
