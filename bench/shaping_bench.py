"""Userspace shaping, measured on real traffic between namespaces (prints figures only; root).

Each traffic end is its own process inside its namespace (this script re-run with
``--role``), the switch is its own process, so on a 2-core host three processes share two
cores: the capacity figures include that contention, as a run's would. Both ends read
CLOCK_MONOTONIC, so one-way delays are measured directly.

* latency: 10 ms and 50 ms one-way on both hosts; UDP pings every 5 ms for ``--seconds``;
  RTT p50/p99 on the wire (kernel arrival stamps at both ends, the echo's holding time taken
  off: what the shaper decides; target p99 within 1 ms of twice the latency) and as the
  pinging program sees it (its and the echo's scheduling delays included). With ``--hog``,
  measured again while one busy-looping process per core (an unrelated CPU hog, nice 0)
  keeps every core busy: the switch must still deliver on time.
* bandwidth: 1, 10, 100 Mbit/s; a UDP stream offered at 120 % of the rate; the rate the
  receiver sees in IP bytes (what the link counts; target ±5 %), and TCP goodput.
* loss: 10 % over 10,000 packets (target ±1.5 points).
* capacity, no shaping: a UDP flood of small packets (pkt/s), and large datagrams with a
  65,000-byte MTU (Gbit/s); targets 50,000 pkt/s and 1 Gbit/s.

Run: ``sudo python bench/shaping_bench.py [--seconds 10] [--hog]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import select
import socket
import statistics
import struct
import subprocess
import sys
import time
from datetime import timedelta
from typing import Any

from choreograph.net._enter import enter_host
from choreograph.net.host import RunNetwork
from choreograph.wire.network import LinkShape, NetworkConfig

PORT = 9100
STAMP = struct.Struct("!QdQ")
"""A ping: sequence number, send time (perf_counter, s), send time (CLOCK_REALTIME, ns)."""
ECHO = struct.Struct("!QQ")
"""What the echo appends: the ping's arrival (kernel stamp) and the answer's send time, ns."""
TIMESPEC = struct.Struct("@qq")
SO_TIMESTAMPNS = 35  # <asm-generic/socket.h>; socket.SO_TIMESTAMPNS only from Python 3.12


# --- the traffic ends (run inside a namespace with --role) ---------------------------


def _timestamped(sock: socket.socket) -> None:
    """Have the kernel stamp each datagram's arrival (CLOCK_REALTIME, ns)."""
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)


def _recv_stamped(sock: socket.socket) -> tuple[bytes, Any, int]:
    """A datagram, its sender, and when the kernel received it (ns, CLOCK_REALTIME)."""
    data, ancillary, _, peer = sock.recvmsg(2048, 64)
    arrived = 0
    for level, kind, value in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
            seconds, nanoseconds = TIMESPEC.unpack(value[: TIMESPEC.size])
            arrived = seconds * 1_000_000_000 + nanoseconds
    return data, peer, arrived


def role_echo(args: argparse.Namespace) -> dict[str, Any]:
    """Answer each ping with it, when it arrived here (kernel) and when it left again."""
    sock = socket.socket(type=socket.SOCK_DGRAM)
    _timestamped(sock)
    sock.bind((args.ip, PORT))
    sock.settimeout(args.seconds + 5)
    print("ready", flush=True)
    try:
        while True:
            data, peer, arrived = _recv_stamped(sock)
            sock.sendto(data[: STAMP.size] + ECHO.pack(arrived, time.time_ns()), peer)
    except TimeoutError:
        return {}


def role_ping(args: argparse.Namespace) -> dict[str, Any]:
    """Ping every ``gap`` seconds from one thread (select), so no GIL delays a timestamp.

    Two round trips per ping: as the pinging program sees it (``rtts``: its own and the
    echo's scheduling delays included), and on the wire (``wire``: the kernel's arrival
    stamps at both ends, minus the time the echo held the ping), which is what the shaper
    alone decides."""
    sock = socket.socket(type=socket.SOCK_DGRAM)
    _timestamped(sock)
    sock.setblocking(False)
    rtts, wire, seq, start = [], [], 0, time.perf_counter()
    end = start + args.seconds
    while (now := time.perf_counter()) < end + 1:
        if now < end and now >= start + seq * args.gap:
            sock.sendto(STAMP.pack(seq, time.perf_counter(), time.time_ns()), (args.peer, PORT))
            seq += 1
        wait = max(0.0, start + seq * args.gap - time.perf_counter()) if now < end else 0.05
        if select.select([sock], [], [], wait)[0]:
            while True:
                try:
                    data, _, arrived = _recv_stamped(sock)
                except BlockingIOError:
                    break
                _, sent_perf, sent_ns = STAMP.unpack(data[: STAMP.size])
                rtts.append(time.perf_counter() - sent_perf)
                echo_in, echo_out = ECHO.unpack(data[STAMP.size :])
                wire.append(((arrived - sent_ns) - (echo_out - echo_in)) / 1e9)
    return {"sent": seq, "rtts": rtts, "wire": wire}


def role_sink(args: argparse.Namespace) -> dict[str, Any]:
    kind = socket.SOCK_STREAM if args.tcp else socket.SOCK_DGRAM
    sock = socket.socket(type=kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
    sock.bind((args.ip, PORT))
    if args.tcp:
        sock.listen()
    print("ready", flush=True)
    sock.settimeout(args.seconds + 10)
    conn = sock.accept()[0] if args.tcp else sock
    conn.settimeout(1.0)
    count = size = 0
    first = last = 0.0
    try:
        while chunk := conn.recv(1 << 17):
            last = time.perf_counter()
            first = first or last
            count += 1
            size += len(chunk)
    except TimeoutError:
        pass
    return {"count": count, "bytes": size, "seconds": last - first}


def role_source(args: argparse.Namespace) -> dict[str, Any]:
    """Offer ``size``-byte datagrams at ``rate`` bits/s of IP bytes (0: as fast as
    possible), or a TCP stream, for ``seconds``."""
    if args.tcp:
        sock = socket.create_connection((args.peer, PORT), timeout=10)
        block, end, sent = bytes(1 << 16), time.perf_counter() + args.seconds, 0
        while time.perf_counter() < end:
            sent += sock.send(block)
        sock.close()
        return {"bytes": sent}
    sock = socket.socket(type=socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    payload, target = bytes(args.size), (args.peer, PORT)
    gap = (args.size + 28) * 8 / args.rate if args.rate else 0.0
    sent, start = 0, time.perf_counter()
    end = start + args.seconds
    while (now := time.perf_counter()) < end:
        if gap and now < start + sent * gap:
            time.sleep(min(0.001, start + sent * gap - now))
            continue
        for _ in range(1 if gap else 64):
            try:
                sock.sendto(payload, target)
                sent += 1
            except OSError:  # the TUN queue is full: what a flood meets
                pass
    return {"sent": sent}


ROLES = {"echo": role_echo, "ping": role_ping, "sink": role_sink, "source": role_source}


# --- the driver ----------------------------------------------------------------


def start(netns: str, role: str, **options: Any) -> subprocess.Popen[str]:
    argv = [sys.executable, __file__, "--role", role]
    for key, value in options.items():
        if value is True:
            argv.append(f"--{key}")
        elif value is not False:
            argv += [f"--{key}", str(value)]
    return subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: enter_host(netns, ""),
    )


def finish(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = proc.communicate(timeout=120)
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def ready(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"


async def shape_both(net: RunNetwork, shape: LinkShape) -> None:
    for index in (0, 1):
        await net.apply(index, NetworkConfig(default=shape))


async def bench_latency(net: RunNetwork, seconds: float, label: str = "") -> None:
    a, b = net.plan.instances
    for one_way in (10, 50):
        await shape_both(net, LinkShape(latency=timedelta(milliseconds=one_way)))
        echo = start(b.netns, "echo", ip=b.data_ip, seconds=seconds)
        ready(echo)
        ping = finish(start(a.netns, "ping", peer=b.data_ip, seconds=seconds, gap=0.005))
        echo.kill()
        echo.wait()
        rtts = sorted(r * 1e3 for r in ping["rtts"])
        wire = sorted(r * 1e3 for r in ping["wire"])
        q, w = statistics.quantiles(rtts, n=100), statistics.quantiles(wire, n=100)
        print(
            f"latency {one_way} ms each way{label}: {len(rtts)}/{ping['sent']} pings; "
            f"RTT on the wire p50 {w[49]:.2f} p99 {w[98]:.2f} max {wire[-1]:.2f} ms "
            f"(target p99 {2 * one_way}+1 ms: {w[98] - 2 * one_way:+.2f}); as the program "
            f"sees it p50 {q[49]:.2f} p99 {q[98]:.2f} max {rtts[-1]:.2f} ms"
        )


def start_hog() -> list[subprocess.Popen[bytes]]:
    """One busy loop per core, at the default priority, as an unrelated workload would."""
    code = "while True: pass"
    return [subprocess.Popen([sys.executable, "-c", code]) for _ in range(os.cpu_count() or 1)]


def stop_hog(hog: list[subprocess.Popen[bytes]]) -> None:
    for proc in hog:
        proc.kill()
        proc.wait()


async def stream(
    net: RunNetwork, seconds: float, *, tcp: bool = False, size: int = 1472, rate: int = 0
) -> dict[str, Any]:
    a, b = net.plan.instances
    sink = start(b.netns, "sink", ip=b.data_ip, seconds=seconds, tcp=tcp)
    ready(sink)
    source = start(
        a.netns, "source", peer=b.data_ip, seconds=seconds, tcp=tcp, size=size, rate=rate
    )
    sent = finish(source)
    got = finish(sink)
    got["sent"] = sent.get("sent", 0)
    return got


async def bench_bandwidth(net: RunNetwork, seconds: float) -> None:
    for mbit in (1, 10, 100):
        rate = mbit * 1_000_000
        await shape_both(net, LinkShape(bandwidth=rate))
        udp = await stream(net, seconds, rate=int(rate * 1.2))
        ip_rate = (udp["count"] - 1) * 1500 * 8 / udp["seconds"]
        tcp = await stream(net, seconds, tcp=True)
        goodput = tcp["bytes"] * 8 / tcp["seconds"]
        print(
            f"bandwidth {mbit:>3} Mbit/s: UDP {ip_rate / 1e6:7.3f} Mbit/s of IP bytes "
            f"({ip_rate / rate - 1:+.2%}), TCP goodput {goodput / 1e6:7.3f} Mbit/s "
            f"({goodput / rate:.1%} of the rate; headers are the rest)"
        )


async def bench_loss(net: RunNetwork) -> None:
    await shape_both(net, LinkShape(loss=10.0))
    packets = 10_000
    got = await stream(net, packets / 5000, size=100, rate=5000 * 128 * 8)
    sent = got["sent"]
    print(
        f"loss 10 %: {sent - got['count']}/{sent} lost = {(sent - got['count']) / sent:.2%} "
        f"(target 10 ± 1.5 points)"
    )


async def bench_capacity(seconds: float) -> None:
    for mtu, size in ((1500, 64), (1500, 1472), (65000, 60000)):
        async with RunNetwork(f"bench-cap-{mtu}-{os.getpid()}", ["a", "b"], mtu=mtu) as net:
            got = await stream(net, seconds, size=size)
            stats = await net.statistics()
            forwarded = stats["ports"]["0"]["tx"]
            pps = got["count"] / got["seconds"]
            mbit = got["bytes"] * 8 / got["seconds"] / 1e6
            print(
                f"capacity, MTU {mtu}, {size}-byte datagrams: received {pps:,.0f} pkt/s, "
                f"{mbit:,.0f} Mbit/s of payload ({got['sent']:,} offered, "
                f"{forwarded:,} forwarded by the switch)"
            )
        if mtu == 65000:
            async with RunNetwork(f"bench-tcp-{os.getpid()}", ["a", "b"], mtu=mtu) as net:
                got = await stream(net, seconds, tcp=True)
                print(
                    f"capacity, MTU {mtu}, TCP: {got['bytes'] * 8 / got['seconds'] / 1e9:.2f} "
                    "Gbit/s goodput"
                )


async def main(args: argparse.Namespace) -> None:
    async with RunNetwork(f"bench-shaping-{os.getpid()}", ["a", "b"]) as net:
        await bench_latency(net, args.seconds)
        if args.hog:
            hog = start_hog()
            try:
                await bench_latency(net, args.seconds, f", {len(hog)} cores busy (CPU hog)")
            finally:
                stop_hog(hog)
        await bench_bandwidth(net, min(args.seconds, 4))
        await bench_loss(net)
    await bench_capacity(min(args.seconds, 4))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--role", choices=sorted(ROLES))
    parser.add_argument("--ip")
    parser.add_argument("--peer")
    parser.add_argument("--gap", type=float, default=0.005)
    parser.add_argument("--size", type=int, default=1472)
    parser.add_argument("--rate", type=int, default=0)
    parser.add_argument("--tcp", action="store_true")
    parser.add_argument(
        "--hog", action="store_true", help="also measure latency with every core kept busy"
    )
    arguments = parser.parse_args()
    if arguments.role:
        print(json.dumps(ROLES[arguments.role](arguments)), flush=True)
    else:
        asyncio.run(main(arguments))
