"""What a run leaves behind, read back: ``load(run)`` gives its tables (pandas, imported
only when a table is built)."""

from choreograph.results.tables import RunData, load

__all__ = ["RunData", "load"]
