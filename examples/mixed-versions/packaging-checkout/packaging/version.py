"""The working tree's change: a version with a non-PEP 440 suffix ("1.0-legacy") is
read as a local version ("1.0+legacy") instead of being rejected."""

from __future__ import annotations

import re

_VERSION = re.compile(r"(?P<release>\d+(?:\.\d+)*)(?:[+-](?P<local>[a-z0-9.]+))?", re.IGNORECASE)


class InvalidVersion(ValueError):
    """Not a version, even leniently read."""


class Version:
    def __init__(self, text: str) -> None:
        match = _VERSION.fullmatch(text.strip())
        if match is None:
            raise InvalidVersion(f"Invalid version: {text!r}")
        self.release = tuple(int(part) for part in match["release"].split("."))
        self.local = match["local"]

    def __str__(self) -> str:
        release = ".".join(map(str, self.release))
        return f"{release}+{self.local}" if self.local else release


def parse(text: str) -> Version:
    return Version(text)
