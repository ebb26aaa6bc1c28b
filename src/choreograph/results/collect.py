"""``choreo collect``: a run folder as one ``.tgz`` that holds only what belongs to the run.

A run folder is written by the plan's own code, and that code can leave links in it: a
symlink, followed, would archive whatever it points at; a hard link is a regular file
whose content is shared with a file elsewhere (an instance running as root can
hard-link ``/etc/shadow`` into its outputs). So only folders and regular files with a
single link are archived. Each is opened without following links and checked again on
the open file, so an entry swapped between listing and reading is caught as well.
Symlinks, hard-linked files, devices, fifos and sockets are skipped and counted, as are
entries that cannot be read. The instances' scratch space (``.tmp``) is not a result.

The archive is written through :mod:`choreograph.atomic`: a failure leaves the previous
file, or none, never half an archive.
"""

from __future__ import annotations

import errno
import os
import stat
import tarfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from choreograph import atomic
from choreograph.results.layout import TEMP, RunLayout

SYMLINK = "symlink"
HARD_LINK = "hard link"
SPECIAL = "special file"
UNREADABLE = "unreadable"

# How the summary line names each reason: (one, several, why it is left out).
_WORDS = {
    SYMLINK: ("symlink", "symlinks", "never followed"),
    HARD_LINK: ("hard-linked file", "hard-linked files", "content may belong to another file"),
    SPECIAL: ("device, fifo or socket", "devices, fifos or sockets", "not outputs"),
    UNREADABLE: ("unreadable entry", "unreadable entries", "could not be opened"),
}


@dataclass(frozen=True)
class CollectReport:
    archive: Path
    files: int
    """Regular files archived."""
    size: int
    """Bytes of the archive."""
    skipped: dict[str, int] = field(default_factory=dict)
    """Entries left out, by reason (:data:`SYMLINK`, :data:`HARD_LINK`, …)."""

    def skipped_summary(self) -> str:
        """One line: how many entries were left out and why; "" when none were."""
        if not self.skipped:
            return ""
        parts = []
        for reason, n in sorted(self.skipped.items()):
            one, several, why = _WORDS[reason]
            parts.append(f"{n} {one if n == 1 else several} ({why})")
        total = sum(self.skipped.values())
        return f"left out {total} {'entry' if total == 1 else 'entries'}: " + ", ".join(parts)


def collect_run(layout: RunLayout, target: Path) -> CollectReport:
    """Archive ``layout``'s run folder as ``target`` (gzip'd tar, entries under the run id)."""
    with atomic.replacing(target) as out:
        own = os.fstat(out.fileno())  # the archive itself, when written inside the run folder
        with tarfile.open(fileobj=out, mode="w:gz") as archive:
            walk = _Walk(archive, (own.st_dev, own.st_ino))
            root = os.open(layout.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                archive.addfile(_info(layout.run_id, os.fstat(root)))
                walk.folder(root, layout.run_id, leave_out=TEMP)
            finally:
                os.close(root)
    return CollectReport(target, walk.files, target.stat().st_size, dict(walk.skipped))


class _Walk:
    """Adds a folder tree to an archive through file descriptors, never through a link."""

    def __init__(self, archive: tarfile.TarFile, own: tuple[int, int]) -> None:
        self.archive, self.own = archive, own
        self.files = 0
        self.skipped: Counter[str] = Counter()

    def folder(self, fd: int, arcname: str, leave_out: str = "") -> None:
        for entry in sorted(os.scandir(fd), key=lambda e: e.name):
            if entry.name == leave_out:
                continue
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except OSError:
                self.skipped[UNREADABLE] += 1
                continue
            name = f"{arcname}/{entry.name}"
            if stat.S_ISDIR(mode):
                self._subfolder(fd, entry.name, name)
            elif stat.S_ISREG(mode):
                self._file(fd, entry.name, name)
            else:
                self.skipped[SYMLINK if stat.S_ISLNK(mode) else SPECIAL] += 1

    def _subfolder(self, parent: int, entry: str, arcname: str) -> None:
        fd = self._open(parent, entry, os.O_DIRECTORY)
        if fd is None:
            return
        try:
            self.archive.addfile(_info(arcname, os.fstat(fd)))
            self.folder(fd, arcname)
        finally:
            os.close(fd)

    def _file(self, parent: int, entry: str, arcname: str) -> None:
        fd = self._open(parent, entry, os.O_NONBLOCK)  # a fifo swapped in must not block
        if fd is None:
            return
        with open(fd, "rb") as data:
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) == self.own:
                return
            if not stat.S_ISREG(st.st_mode):
                self.skipped[SPECIAL] += 1
            elif st.st_nlink > 1:
                self.skipped[HARD_LINK] += 1
            else:
                self.archive.addfile(_info(arcname, st), data)
                self.files += 1

    def _open(self, parent: int, entry: str, flags: int) -> int | None:
        try:
            return os.open(entry, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | flags, dir_fd=parent)
        except OSError as exc:
            # ELOOP: replaced by a symlink since it was listed.
            self.skipped[SYMLINK if exc.errno == errno.ELOOP else UNREADABLE] += 1
            return None


def _info(arcname: str, st: os.stat_result) -> tarfile.TarInfo:
    info = tarfile.TarInfo(arcname)
    info.mode = stat.S_IMODE(st.st_mode)
    info.mtime = int(st.st_mtime)
    info.uid, info.gid = st.st_uid, st.st_gid
    if stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
    else:
        info.size = st.st_size
    return info
