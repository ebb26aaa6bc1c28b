"""N instances coordinate: barriers, signal_and_wait, and a pub/sub fan-in.

- barrier: every instance passes `rounds` barriers; sequence numbers within a round
  are unique and cover 1..N.
- fanin: every instance publishes its id; the first one to sign in collects all N ids
  from the topic and publishes the verdict, which everyone checks.
- all: both in a row.
"""

from __future__ import annotations

from choreograph.sdk import BlockingSyncClient, InitContext, RunEnv, invoke_map


def _barrier_rounds(runenv: RunEnv, client: BlockingSyncClient) -> str | None:
    n = runenv.test_instance_count
    for r in range(runenv.int_param("rounds")):
        seq = client.signal_and_wait(f"round-{r}", n)
        if not 1 <= seq <= n:
            return f"round {r}: sequence number {seq} outside 1..{n}"
        client.publish(f"round-{r}-seqs", seq)
    # Every round's sequence numbers must be a permutation of 1..n.
    for r in range(runenv.int_param("rounds")):
        sub = client.subscribe(f"round-{r}-seqs")
        seqs = [next(sub) for _ in range(n)]
        sub.close()
        if sorted(seqs) != list(range(1, n + 1)):
            return f"round {r}: sequence numbers {sorted(seqs)} are not 1..{n}"
    return None


def _fan_in(runenv: RunEnv, client: BlockingSyncClient) -> str | None:
    n = runenv.test_instance_count
    me = f"{runenv.test_group_id}/{runenv.group_index}"
    seq = client.signal_entry("fanin-enter")
    client.publish("ids", me)
    if seq == 1:
        sub = client.subscribe("ids")
        ids = [next(sub) for _ in range(n)]
        sub.close()
        verdict = "ok" if len(set(ids)) == n else f"duplicates among {ids}"
        client.publish("verdict", verdict)
        runenv.record_message(f"collected {len(ids)} ids")
    sub = client.subscribe("verdict")
    verdict = next(sub)
    sub.close()
    return None if verdict == "ok" else f"fan-in failed: {verdict}"


def barrier(runenv: RunEnv, ctx: InitContext) -> str | None:
    return _barrier_rounds(runenv, ctx.sync_client)


def fanin(runenv: RunEnv, ctx: InitContext) -> str | None:
    return _fan_in(runenv, ctx.sync_client)


def all_cases(runenv: RunEnv, ctx: InitContext) -> str | None:
    return _barrier_rounds(runenv, ctx.sync_client) or _fan_in(runenv, ctx.sync_client)


if __name__ == "__main__":
    invoke_map({"barrier": barrier, "fanin": fanin, "all": all_cases})
