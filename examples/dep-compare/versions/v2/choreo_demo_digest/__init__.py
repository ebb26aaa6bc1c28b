"""choreo-demo-digest 2.0: the same Adler-32 checksum, delegated to zlib's C code: the
kind of speed-up a release note promises, and a performance difference `choreo compare`
must see."""

import zlib

__version__ = "2.0"


def digest(data: bytes) -> int:
    return zlib.adler32(data)
