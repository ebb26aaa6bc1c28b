"""Start, signal one state on the sync service, exit: the least a coordinated instance does.

``bench/docker_bench.py`` runs it under ``exec:python`` + ``local:netns`` and
``docker:python`` + ``local:docker`` to price a container per instance.
"""

from choreograph.sdk import InitContext, RunEnv, invoke_map


def signal(runenv: RunEnv, ctx: InitContext) -> None:
    ctx.sync_client.signal_entry("started")


if __name__ == "__main__":
    invoke_map({"signal": signal})
