"""Content-addressed build folders: copy the plan's sources, run the build steps, and
publish the folder under its key only when every step succeeded.

A build is made in ``<key>.partial-<pid>-<random>`` and renamed into place at the end, so a
failed or interrupted build never leaves something a later run would reuse.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from choreograph.builders.cache import IGNORED_DIRS

SOURCE_DIR = "src"
COMPLETE = ".complete"


def build_root(builds_dir: Path, builder_id: str) -> Path:
    return builds_dir / builder_id.replace(":", "-")


async def staged_build(
    builds_dir: Path,
    builder_id: str,
    key: str,
    plan_dir: Path,
    steps: Callable[[Path], Awaitable[None]],
) -> tuple[Path, bool]:
    """Return ``(folder, from_cache)``; ``folder/src`` holds the sources and build outputs.

    ``steps`` runs with the staged source folder; any exception it raises discards the
    partial build and propagates.
    """
    root = build_root(builds_dir, builder_id)
    final = root / key
    if (final / COMPLETE).is_file():
        return final, True
    root.mkdir(parents=True, exist_ok=True)
    # Unique per build, not just per process: two builds of one key may run at once.
    partial = Path(tempfile.mkdtemp(prefix=f"{key}.partial-{os.getpid()}-", dir=root))
    partial.chmod(0o755)  # mkdtemp's 0700 would make the published build private
    try:
        shutil.copytree(
            plan_dir, partial / SOURCE_DIR, ignore=shutil.ignore_patterns(*IGNORED_DIRS, "*.pyc")
        )
        await steps(partial / SOURCE_DIR)
        (partial / COMPLETE).write_text(key + "\n")
        try:
            os.replace(partial, final)
        except OSError:
            if not (final / COMPLETE).is_file():
                raise
            # A concurrent build of the same key finished first: keep theirs.
            shutil.rmtree(partial, ignore_errors=True)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return final, False
