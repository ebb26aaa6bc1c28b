"""Choreograph: test, benchmark and simulate distributed systems.

This module holds the version only and imports nothing, so that a plan importing
``choreograph.sdk`` pays for nothing it does not use.
"""

__version__ = "0.1.0"
