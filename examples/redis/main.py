"""Instances share a Redis server started by the run ([[services]] in composition.toml).

Each instance INCRs a shared counter `writes` times (timing each command), stores its
own key, waits for the others at a barrier, then checks that the counter holds every
instance's writes and that every instance's key is there. The client is a few lines of
RESP over a socket, so the plan needs no library.
"""

from __future__ import annotations

import os
import socket

from choreograph.sdk import BlockingSyncClient, InitContext, RunEnv, invoke_map


class Redis:
    """Just enough of the Redis protocol (RESP2) for this plan."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=10)
        self.stream = self.sock.makefile("rb")

    def call(self, *args: str) -> object:
        payload = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
        self.sock.sendall(payload.encode())
        return self._reply()

    def _reply(self) -> object:
        line = self.stream.readline().rstrip(b"\r\n")
        kind, rest = line[:1], line[1:].decode()
        if kind == b"+":
            return rest
        if kind == b"-":
            raise RuntimeError(f"redis error: {rest}")
        if kind == b":":
            return int(rest)
        if kind == b"$":
            if rest == "-1":
                return None
            data = self.stream.read(int(rest) + 2)[:-2]
            return data.decode()
        raise RuntimeError(f"unexpected redis reply {line!r}")

    def close(self) -> None:
        self.stream.close()
        self.sock.close()


def shared_counter(runenv: RunEnv, ctx: InitContext[BlockingSyncClient]) -> str | None:
    host = os.environ["CHOREO_SERVICE_REDIS_HOST"]
    port = int(os.environ["CHOREO_SERVICE_REDIS_PORT"])
    redis = Redis(host, port)
    writes = runenv.int_param("writes")
    incr = runenv.R().timer("incr", unit="ms")
    for _ in range(writes):
        with incr.time():
            redis.call("INCR", "writes")
    redis.call("SET", f"instance:{runenv.global_index}", runenv.instance_key)
    ctx.sync_client.signal_and_wait("written", runenv.test_instance_count)

    total = redis.call("GET", "writes")
    expected = writes * runenv.test_instance_count
    if total != str(expected):
        return f"counter holds {total}, expected {expected}"
    for index in range(runenv.test_instance_count):
        if redis.call("GET", f"instance:{index}") is None:
            return f"instance {index} left no key"
    runenv.record_message(f"redis at {host}:{port} holds {total} writes from every instance")
    redis.close()
    return None


if __name__ == "__main__":
    invoke_map({"shared-counter": shared_counter})
