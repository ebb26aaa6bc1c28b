"""Pass a barrier, publish, then wait on a subscription until released: an idle instance.

``bench/instance_memory.py`` measures instances in this state. Each writes ``idle`` in its
outputs folder once it waits; the first to pass the barrier watches for ``release_file``
and publishes the release.
"""

import os
import time

from choreograph.sdk import InitContext, RunEnv, invoke_map


def hold(runenv: RunEnv, ctx: InitContext) -> None:
    client = ctx.sync_client
    seq = client.signal_and_wait("ready", runenv.test_instance_count)
    client.publish("ids", seq)
    sub = client.subscribe("release")
    (runenv.outputs_path / "idle").write_text("")
    if seq == 1:
        path = runenv.string_param("release_file")
        while not os.path.exists(path):
            time.sleep(0.2)
        client.publish("release", "go")
    next(sub)
    sub.close()


if __name__ == "__main__":
    invoke_map({"hold": hold})
