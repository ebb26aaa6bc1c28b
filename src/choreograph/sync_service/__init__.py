"""The sync service (Testground's): topics with full history, states with barriers.

One :class:`SyncService` serves instances over websockets (the protocol in
:mod:`choreograph.wire.sync`) and the host engine in-process, over the same topics and states.
"""

from choreograph.sync_service.server import SyncService

__all__ = ["SyncService"]
