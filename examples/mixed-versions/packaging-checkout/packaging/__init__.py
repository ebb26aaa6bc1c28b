"""Working-tree stand-in for `packaging` (see ../pyproject.toml)."""

__version__ = "99.0.dev0"
