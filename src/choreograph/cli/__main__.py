"""``python -m choreograph.cli`` — the same as the ``choreo`` command."""

from choreograph.cli.app import main

main()
