"""``python -m choreograph.sync_service``: the standalone service (see ``server.main``).

Preferred to ``python -m choreograph.sync_service.server``, which works too but makes Python
warn that the package had already imported that module before running it.
"""

from choreograph.sync_service.server import main

main()
