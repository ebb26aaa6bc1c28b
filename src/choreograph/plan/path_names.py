"""Names that become folder names: plan names, test case names, group ids.

A group id becomes ``runs/<run>/<group>/``, a plan name ``plans/<plan>/``; a name such
as ``../../x`` or ``/etc`` would put files outside the home folder. So these names are
checked against one whitelist where they are read (manifest, composition, ``choreo plan``
arguments) rather than escaped where they are used: every later reader can then trust
them, and the user hears about a bad name against the line that holds it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

MAX_LENGTH = 100
"""Far below the 255 bytes a file name may have, leaving room for suffixes we add."""

_PATH_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
_RULE = "use letters, digits, '-', '_', '.' (not starting with '.')"


def path_name_problem(value: str, what: str) -> str | None:
    """Why ``value`` cannot be a ``what`` ("group id", "plan name"…), or None when it can."""
    shown = repr(value) if len(value) <= MAX_LENGTH else repr(value[:MAX_LENGTH]) + "…"
    if not _PATH_NAME.fullmatch(value):
        return f"{shown} is not a valid {what}: {_RULE}"
    if len(value) > MAX_LENGTH:
        return f"{shown} is not a valid {what}: use at most {MAX_LENGTH} characters"
    return None


def path_name_validator(what: str) -> Callable[[str], str]:
    """A pydantic after-validator: the name unchanged, or a ValueError saying what to use."""

    def check(value: str) -> str:
        problem = path_name_problem(value, what)
        if problem:
            raise ValueError(problem)
        return value

    return check
