"""Write Choreograph (and Testground) test plans in Python.

A plan is an ordinary program. Each instance runs it with its place in the run in
``TEST_*`` environment variables; :func:`invoke` reads them, connects to the sync service,
calls your test function and reports its outcome::

    from choreograph.sdk import BlockingSyncClient, InitContext, RunEnv, invoke

    def ping(runenv: RunEnv, ctx: InitContext[BlockingSyncClient]) -> None:
        rounds = runenv.int_param("rounds")
        client = ctx.sync_client
        client.publish("peers", {"seq": ctx.global_seq, "rounds": rounds})
        peers = client.subscribe("peers")
        seen = [peers.get(timeout=30) for _ in range(runenv.test_instance_count)]
        runenv.record_message(f"saw {len(seen)} peers")
        client.signal_and_wait("done", runenv.test_instance_count)
        assert len(seen) == runenv.test_instance_count, "a peer is missing"

    invoke(ping)  # or invoke_map({"ping": ping, ...}) to pick by TEST_CASE

Return None for success; return an error message (or raise ``AssertionError``) for a
failure; any other exception is a crash, reported with its traceback. ``async def`` test
functions get a :class:`SyncClient` (``await client.barrier(...)``) instead of a
:class:`BlockingSyncClient`. States and topics are scoped to the run exactly as sdk-go
and sdk-js scope them, so instances in other languages meet on the same names.

Outside ``invoke`` (tools, tests), connect yourself::

    async with SyncClient.connect("127.0.0.1", 5050, scope=None) as client:
        await client.signal_entry("ready")

Importing this package loads only the standard library and ``websockets``.
"""

from choreograph.errors import SyncError
from choreograph.sdk._blocking import BlockingSubscription, BlockingSyncClient
from choreograph.sdk._invoke import InitContext, invoke, invoke_map
from choreograph.sdk._params import ParamError
from choreograph.sdk._runenv import RunEnv
from choreograph.sdk._sync import Subscription, SyncClient

__all__ = [
    "BlockingSubscription",
    "BlockingSyncClient",
    "InitContext",
    "ParamError",
    "RunEnv",
    "Subscription",
    "SyncClient",
    "SyncError",
    "invoke",
    "invoke_map",
]
