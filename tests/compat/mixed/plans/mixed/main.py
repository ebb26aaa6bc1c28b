"""The Python half of the `meet` case; index.js is the JavaScript half, with the same steps."""

from __future__ import annotations

from choreograph.sdk import BlockingSyncClient, InitContext, RunEnv, invoke_map


def meet(runenv: RunEnv, ctx: InitContext[BlockingSyncClient]) -> str | None:
    total = runenv.test_instance_count
    client = ctx.sync_client

    seq = client.signal_entry("enrolled")
    client.publish(
        "roster",
        {
            "lang": "python",
            "group": runenv.test_group_id,
            "seq": seq,
            "greeting": runenv.string_param("greeting"),
        },
    )
    client.barrier("enrolled", total, timeout=20)

    with client.subscribe("roster") as sub:
        roster = [sub.get(timeout=20) for _ in range(total)]
    seqs = sorted(entry["seq"] for entry in roster)
    if seqs != list(range(1, total + 1)):
        return f"enrolment numbers {seqs} are not 1..{total}"
    for round_ in range(runenv.int_param("rounds")):
        client.signal_and_wait(f"round-{round_}", total, timeout=20)
    langs = ",".join(sorted({entry["lang"] for entry in roster}))
    greetings = ",".join(sorted({f"{entry['group']}:{entry['greeting']}" for entry in roster}))
    runenv.record_message(f"roster langs={langs} greetings={greetings}")
    return None


if __name__ == "__main__":
    invoke_map({"meet": meet})
