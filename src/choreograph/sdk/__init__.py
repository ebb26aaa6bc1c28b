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

Metrics go to the instance's outputs as JSON lines: ``runenv.R()`` for results
(``results.out``), ``runenv.D()`` for diagnostics (``diagnostics.out``)::

    latency = runenv.R().timer("latency", unit="ms")
    with latency.time():
        client.publish("t", 1)

Under a runner with a sidecar (``local:netns``), ``ctx.net_client`` shapes the instance's
data network: ``ctx.net_client.configure_network(NetworkConfig(default=LinkShape(...),
callback_state="shaped"))``, then ``ctx.net_client.get_data_network_ip()``.

Outside ``invoke`` (tools, tests), connect yourself::

    async with SyncClient.connect("127.0.0.1", 5050, scope=None) as client:
        await client.signal_entry("ready")

Importing this package loads only the standard library and ``websockets``.
"""

from choreograph.errors import SyncError
from choreograph.sdk._blocking import BlockingSubscription, BlockingSyncClient
from choreograph.sdk._invoke import InitContext, invoke, invoke_map
from choreograph.sdk._metrics import Counter, Gauge, Histogram, Metrics, Timer
from choreograph.sdk._network import BlockingNetworkClient, NetworkClient
from choreograph.sdk._params import ParamError
from choreograph.sdk._runenv import RunEnv
from choreograph.sdk._sync import Subscription, SyncClient
from choreograph.wire.network import (
    FilterAction,
    LinkRule,
    LinkShape,
    NetworkConfig,
    RoutingPolicy,
)

__all__ = [
    "BlockingNetworkClient",
    "BlockingSubscription",
    "BlockingSyncClient",
    "Counter",
    "FilterAction",
    "Gauge",
    "Histogram",
    "InitContext",
    "LinkRule",
    "LinkShape",
    "Metrics",
    "NetworkClient",
    "NetworkConfig",
    "ParamError",
    "RoutingPolicy",
    "RunEnv",
    "Subscription",
    "SyncClient",
    "SyncError",
    "Timer",
    "invoke",
    "invoke_map",
]
