"""choreo-demo-digest 1.0: an Adler-32 checksum computed byte by byte in Python."""

__version__ = "1.0"

_MOD = 65521


def digest(data: bytes) -> int:
    a, b = 1, 0
    for byte in data:
        a = (a + byte) % _MOD
        b = (b + a) % _MOD
    return (b << 16) | a
