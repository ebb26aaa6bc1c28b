"""Content-addressed build keys: a hash of the plan's sources plus everything that
changes the result (builder, dependency set, tool versions). Same key, same build."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

# Folders that are outputs or caches, never sources: hashing them would make every
# build look new (and node_modules can hold 100k files).
IGNORED_DIRS = frozenset(
    {".git", "__pycache__", "node_modules", ".venv", ".mypy_cache", ".pytest_cache", "target"}
)


def source_files(root: Path) -> Iterable[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in IGNORED_DIRS)
        for name in sorted(filenames):
            if not name.endswith((".pyc", ".pyo")):
                yield Path(dirpath) / name


def build_key(plan_dir: Path, builder: str, extra: dict[str, Any]) -> str:
    """Hex digest over file paths + contents under ``plan_dir`` and the ``extra`` settings."""
    digest = hashlib.sha256()
    digest.update(builder.encode())
    digest.update(json.dumps(extra, sort_keys=True, default=str).encode())
    for path in source_files(plan_dir):
        digest.update(str(path.relative_to(plan_dir)).encode() + b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]
