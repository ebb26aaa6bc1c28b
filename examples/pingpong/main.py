"""Two instances find each other through pub/sub and exchange their ids over TCP.

The first to signal `ready` pings, the other pongs; the pinger records each round trip
in `rtt.json` in its outputs folder.
"""

from __future__ import annotations

import json
import socket
import statistics
import threading
import time

from choreograph.sdk import InitContext, RunEnv, invoke_map


def _serve_pongs(server: socket.socket, my_id: str) -> None:
    conn, _ = server.accept()
    with conn, conn.makefile("rwb") as stream:
        for line in stream:
            stream.write(f"pong {my_id} {line.decode().split()[-1]}\n".encode())
            stream.flush()


def pingpong(runenv: RunEnv, ctx: InitContext) -> str | None:
    client = ctx.sync_client
    rounds = runenv.int_param("rounds")
    seq = client.signal_entry("ready")
    my_id = f"{runenv.test_group_id}/{runenv.group_index}"

    server = socket.create_server(("127.0.0.1", 0))
    host, port = server.getsockname()[:2]
    sub = client.subscribe("peers")
    client.publish("peers", {"seq": seq, "id": my_id, "host": host, "port": port})
    peer = next(p for p in sub if p["seq"] != seq)
    sub.close()
    runenv.record_message(f"I am #{seq} ({my_id}); my peer is {peer['id']}")

    if seq == 1:
        rtts = []
        with socket.create_connection((peer["host"], peer["port"])) as conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            stream = conn.makefile("rwb")
            for n in range(rounds):
                started = time.perf_counter()
                stream.write(f"ping {my_id} {n}\n".encode())
                stream.flush()
                reply = stream.readline().decode().split()
                rtts.append(time.perf_counter() - started)
                if reply[:2] != ["pong", peer["id"]] or reply[2] != str(n):
                    return f"round {n}: expected 'pong {peer['id']} {n}', got {reply}"
        (runenv.outputs_path / "rtt.json").write_text(json.dumps({"rtt_s": rtts}))
        runenv.record_message(
            f"{rounds} round trips, median {statistics.median(rtts) * 1e6:.0f} µs"
        )
    else:
        server.settimeout(60)
        worker = threading.Thread(target=_serve_pongs, args=(server, my_id), daemon=True)
        worker.start()
    client.signal_and_wait("done", runenv.test_instance_count)
    server.close()
    return None


if __name__ == "__main__":
    invoke_map({"pingpong": pingpong})
