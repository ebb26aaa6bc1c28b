"""Files written whole or not at all: the records Choreograph keeps (``run.json``,
``series.json``, build records) and the archives it makes.

Records are read while they are rewritten (``choreo logs --follow`` polls ``run.json``),
and a full disk or a crash in the middle of a write must leave the previous version,
never half a file. So every write goes to a unique temporary file in the target's own
folder (same file system: the rename is atomic), is flushed to disk, and then replaces
the target with :func:`os.replace`. On any error the temporary file is removed, and a
failure to write becomes a :class:`~choreograph.errors.HostError` that names the file
and the cause (raised from the OSError, whose errno stays available).

Stdlib only, below every layer that writes records (builders, results, the CLI), so
each of them writes through this one module.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from choreograph.errors import HostError


def os_reason(exc: OSError) -> str:
    """The cause of ``exc`` as the tail of a sentence: ``no space left on device``."""
    text = exc.strerror or str(exc)
    return text[:1].lower() + text[1:]


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[IO[bytes]]:
    """A binary file that becomes ``path`` when the block ends without an error.

    An OSError about the file being written (it names no other file) becomes a
    HostError; anything else propagates as it is, and nothing is left behind.
    """
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")
    ours = {str(p) for p in (temp, path, *path.parents)}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL on a fresh random name: never another writer's file; mode from the umask.
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        with open(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and (exc.filename is None or str(exc.filename) in ours):
            raise HostError(f"cannot write {path}: {os_reason(exc)}") from exc
        raise


def write_bytes(path: Path, data: bytes) -> None:
    with replacing(path) as out:
        out.write(data)


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, value: Any, indent: int | None = 2) -> None:
    """``value`` as JSON (values JSON lacks, such as dates, as their ``str``)."""
    write_text(path, json.dumps(value, indent=indent, default=str) + "\n")
