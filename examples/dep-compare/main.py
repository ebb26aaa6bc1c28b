"""Time one library call under whichever release of the library this group installed.

Every instance checks that it runs the release its group pinned, and that both releases
agree on the answer, then records each call's duration as the `digest_time` timer: the
metric `choreo compare RUN --groups v1 v2 --metric digest_time` weighs.
"""

from __future__ import annotations

import os

import choreo_demo_digest

from choreograph.sdk import BlockingSyncClient, InitContext, RunEnv, invoke_map


def digest(runenv: RunEnv, ctx: InitContext[BlockingSyncClient]) -> str | None:
    want = runenv.string_param("version")
    if choreo_demo_digest.__version__ != want:
        return f"runs choreo-demo-digest {choreo_demo_digest.__version__}, pinned {want}"
    data = os.urandom(runenv.int_param("size"))
    timer = runenv.R().timer("digest_time", unit="ms")
    for _ in range(runenv.int_param("calls")):
        with timer.time():
            answer = choreo_demo_digest.digest(data)
    # Both releases must compute the same checksum: compare through the sync service.
    client = ctx.sync_client
    client.publish("answers", {"version": want, "data": data.hex(), "answer": answer})
    client.signal_and_wait("published", runenv.test_instance_count)
    with client.subscribe("answers") as sub:
        answers = [sub.get(timeout=30) for _ in range(runenv.test_instance_count)]
    for other in answers:
        mine = choreo_demo_digest.digest(bytes.fromhex(other["data"]))
        if mine != other["answer"]:
            return f"{want} and {other['version']} disagree on a checksum"
    return None


if __name__ == "__main__":
    invoke_map({"digest": digest})
