"""Each LinkShape field, measured on real traffic between two namespaces.

Sender and receiver sockets live in the test process (created inside the namespaces), so
one monotonic clock timestamps both ends: one-way delays are measured directly. Tolerances
are set from the statistics of the sample sizes used (about 3 sigma) plus the switch's
wake-up latency (tens of microseconds).

A busy host delays packets and drops them at full queues, never the other way round: what
a busy host cannot cause (an early packet, a packet that was never sent arriving) is
checked on every measurement, and a measurement that misses its other bounds while the
host was busy is taken again (``tests/timing.py``).
"""

from __future__ import annotations

import errno
import itertools
import socket
import statistics
import struct
import sys
import threading
import time
import zlib
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from choreograph.net.host import RunNetwork
from choreograph.wire.network import FilterAction, LinkShape, NetworkConfig

from ...timing import measure
from .conftest import tcp, udp

pytestmark = pytest.mark.root
MS = 1e-3
HEADER = struct.Struct("!IdI")  # sequence number, send time, CRC-32 of both


@dataclass
class Trace:
    sent: int
    arrivals: list[tuple[int, float, bytes]] = field(default_factory=list)
    """(sequence number, one-way delay in seconds, payload) in arrival order."""

    def delays(self) -> list[float]:
        return [delay for _, delay, _ in self.arrivals]

    def seqs(self) -> list[int]:
        return [seq for seq, _, _ in self.arrivals]

    def intact(self) -> int:
        """Arrivals exactly as sent (a flipped bit anywhere shows)."""
        return sum(1 for _, _, data in self.arrivals if _intact(data))


def _intact(data: bytes) -> bool:
    head = data[:12]
    return struct.pack("!I", zlib.crc32(head)) == data[12:16] and not any(data[16:])


def blast(
    net: RunNetwork, count: int, gap_s: float, size: int = 200, *, no_checksum: bool = False
) -> Trace:
    """Send ``count`` datagrams from host 0 to host 1, ``gap_s`` apart; record arrivals
    until 0.5 s of silence."""
    receiver = udp(net, 1, 7100)
    receiver.settimeout(0.5)
    sender = udp(net, 0)
    if no_checksum:  # SO_NO_CHECK: corrupted payloads arrive instead of being dropped
        sender.setsockopt(socket.SOL_SOCKET, 11, 1)
    trace = Trace(count)

    def receive() -> None:
        while True:
            try:
                data = receiver.recv(65536)
            except TimeoutError:
                return
            now = time.perf_counter()
            seq, sent_at, _crc = (
                HEADER.unpack_from(data) if len(data) >= HEADER.size else (-1, now, 0)
            )
            trace.arrivals.append((seq, now - sent_at, data))

    # The receiver must timestamp at once: let it take the GIL from the sender quickly.
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    thread = threading.Thread(target=receive)
    thread.start()
    target = (str(net.address_of(1)), 7100)
    start = time.perf_counter()
    try:
        for seq in range(count):
            if (ahead := start + seq * gap_s - time.perf_counter()) > 0:
                time.sleep(ahead)
            head = struct.pack("!Id", seq, time.perf_counter())
            packet = head + struct.pack("!I", zlib.crc32(head)) + bytes(size - HEADER.size)
            sender.sendto(packet, target)
        thread.join()
    finally:
        sys.setswitchinterval(switch_interval)
    sender.close()
    receiver.close()
    return trace


async def shape(net: RunNetwork, **fields: object) -> None:
    await net.apply(0, NetworkConfig(default=LinkShape(**fields)))  # type: ignore[arg-type]


def spread(delays: list[float]) -> str:
    """One-way delays as an assertion message shows them."""
    if len(delays) < 2:
        return f"delays {delays}"
    cuts = statistics.quantiles(delays, n=100)
    return (
        f"{len(delays)} delays: min {min(delays) / MS:.2f}, median {cuts[49] / MS:.2f}, "
        f"p90 {cuts[89] / MS:.2f}, p99 {cuts[98] / MS:.2f}, max {max(delays) / MS:.2f} ms"
    )


async def test_latency(pair: RunNetwork) -> None:
    await shape(pair, latency=timedelta(milliseconds=30))

    def on_time(delays: list[float]) -> bool:
        return (
            len(delays) == 100
            and statistics.median(delays) < 30.5 * MS
            and statistics.quantiles(delays, n=10)[-1] < 32 * MS  # p90: one hiccup can't decide
        )

    taken = measure(lambda: blast(pair, 100, 2 * MS).delays(), on_time)
    for delays in taken.values:
        assert all(d >= 30 * MS for d in delays), f"never early: {spread(delays)}"
    assert on_time(taken.value), f"{spread(taken.value)}; {taken}"


async def test_jitter_is_uniform_around_the_latency(pair: RunNetwork) -> None:
    await shape(pair, latency=timedelta(milliseconds=20), jitter=timedelta(milliseconds=10))

    def uniform(delays: list[float]) -> bool:
        return (
            len(delays) == 500
            and min(delays) < 11 * MS
            and statistics.quantiles(delays, n=100)[-1] < 31 * MS
            and statistics.pstdev(delays) == pytest.approx(10 * MS / 3**0.5, rel=0.15)
        )

    taken = measure(lambda: blast(pair, 500, 0.5 * MS).delays(), uniform)
    for delays in taken.values:
        assert all(d >= 10 * MS for d in delays), f"never early: {spread(delays)}"
        assert max(delays, default=0) > 29 * MS, f"the whole window is used: {spread(delays)}"
    delays = taken.value
    sigma = statistics.pstdev(delays) / MS
    assert uniform(delays), f"{spread(delays)}, sigma {sigma:.2f} ms (5.77 expected); {taken}"


@pytest.mark.parametrize("mbit", [4, 20])
async def test_bandwidth(pair: RunNetwork, mbit: int) -> None:
    rate = mbit * 1_000_000
    await shape(pair, bandwidth=rate)
    size = 1000  # + 28 bytes of IPv4 and UDP headers: what the link counts
    count = int(rate / ((size + 28) * 8) * 1.0)  # one second of traffic at the link rate

    def goodput(trace: Trace) -> float:
        times = _arrival_times(trace)
        span = times[-1] - times[0] if len(times) > 1 else 0.0
        return (len(times) - 1) * (size + 28) * 8 / span if span > 0 else 0.0

    def at_rate(trace: Trace) -> bool:
        # "nothing may be lost below the queue limit", but a starved receiver can lose
        return len(trace.arrivals) == count and goodput(trace) == pytest.approx(rate, rel=0.05)

    offered = (size + 28) * 8 / (rate * 1.3)  # offered at 130 %
    taken = measure(lambda: blast(pair, count, offered, size), at_rate)
    trace = taken.value
    assert at_rate(trace), (
        f"{len(trace.arrivals)}/{count} arrived at {goodput(trace) / 1e6:.2f} Mbit/s; {taken}"
    )


def _arrival_times(trace: Trace) -> list[float]:
    # Arrival time = send time + delay; the sender's clock is the test's clock.
    return [HEADER.unpack_from(data)[1] + delay for _, delay, data in trace.arrivals]


# Counting tests: a starved receiver or switch loses packets at a full queue, so the counts
# are measured again on a busy host; what no load can cause is checked on every trace.


async def test_loss(pair: RunNetwork) -> None:
    await shape(pair, loss=20.0)

    def rate(trace: Trace) -> float:
        return len(trace.arrivals) / 3000

    taken = measure(lambda: blast(pair, 3000, 0.1 * MS), lambda t: abs(rate(t) - 0.80) <= 0.03)
    assert rate(taken.value) == pytest.approx(0.80, abs=0.03), taken


async def test_duplicate(pair: RunNetwork) -> None:
    await shape(pair, duplicate=25.0)

    def as_shaped(trace: Trace) -> bool:
        seqs = trace.seqs()
        return set(seqs) == set(range(3000)) and abs(len(seqs) / 3000 - 1.25) <= 0.03

    taken = measure(lambda: blast(pair, 3000, 0.1 * MS), as_shaped)
    for trace in taken.values:
        assert set(trace.seqs()) <= set(range(3000)), "only what was sent arrives"
    seqs = taken.value.seqs()
    assert set(seqs) == set(range(3000)), f"{3000 - len(set(seqs))} lost; {taken}"
    assert len(seqs) / 3000 == pytest.approx(1.25, abs=0.03), taken


async def test_corrupt(pair: RunNetwork) -> None:
    await shape(pair, corrupt=20.0)

    def damaged(trace: Trace) -> float:
        return 1 - trace.intact() / 3000  # payload changed, or UDP header hit and lost

    taken = measure(
        lambda: blast(pair, 3000, 0.1 * MS, no_checksum=True),
        lambda t: abs(damaged(t) - 0.20) <= 0.03,
    )
    assert damaged(taken.value) == pytest.approx(0.20, abs=0.03), taken


async def test_corrupted_packets_fail_the_checksum(pair: RunNetwork) -> None:
    await shape(pair, corrupt=20.0)

    def rate(trace: Trace) -> float:
        return len(trace.arrivals) / 2000

    # with UDP checksums, as applications send
    taken = measure(lambda: blast(pair, 2000, 0.1 * MS), lambda t: abs(rate(t) - 0.80) <= 0.035)
    for trace in taken.values:
        assert trace.intact() == len(trace.arrivals)
    assert rate(taken.value) == pytest.approx(0.80, abs=0.035), taken


async def test_reorder_skips_the_latency(pair: RunNetwork) -> None:
    await shape(pair, latency=timedelta(milliseconds=20), reorder=30.0)

    def early(trace: Trace) -> float:
        return sum(1 for d in trace.delays() if d < 5 * MS) / 1000

    def as_shaped(trace: Trace) -> bool:
        return len(trace.arrivals) == 1000 and abs(early(trace) - 0.30) <= 0.045

    taken = measure(lambda: blast(pair, 1000, 0.5 * MS), as_shaped)
    trace = taken.value
    assert len(trace.arrivals) == 1000, taken
    assert early(trace) == pytest.approx(0.30, abs=0.045), taken
    seqs = trace.seqs()
    assert any(a > b for a, b in itertools.pairwise(seqs)), "nothing was reordered"


async def test_reorder_correlation_makes_bursts(pair: RunNetwork) -> None:
    def mean_burst(trace: Trace) -> float:
        early = sorted(seq for seq, delay, _ in trace.arrivals if delay < 5 * MS)
        bursts, length = [], 1
        for a, b in itertools.pairwise(early):
            if b == a + 1:
                length += 1
            else:
                bursts.append(length)
                length = 1
        return statistics.mean(bursts or [length])

    # At 50 % the correlated draw keeps its hit rate (netem's formula pulls it towards
    # 50 %), so only the bursts change. The independent draw is the control: a busy host
    # only breaks bursts (an early packet made late), so it cannot inflate the control.
    await shape(pair, latency=timedelta(milliseconds=10), reorder=50.0)
    independent = mean_burst(blast(pair, 1500, 0.2 * MS))
    await shape(pair, latency=timedelta(milliseconds=10), reorder=50.0, reorder_corr=90.0)
    taken = measure(lambda: mean_burst(blast(pair, 1500, 0.2 * MS)), lambda c: c > 2 * independent)
    assert taken.value > 2 * independent, f"{taken.values} vs {independent}; {taken}"


def connect_error(net: RunNetwork, timeout: float) -> tuple[int | None, float]:
    server = tcp(net, 1)
    server.bind((str(net.address_of(1)), 7101))
    server.listen()
    client = tcp(net, 0)
    client.settimeout(timeout)
    started = time.perf_counter()
    try:
        client.connect((str(net.address_of(1)), 7101))
        code = None
    except TimeoutError:
        code = errno.ETIMEDOUT
    except OSError as exc:
        code = exc.errno
    finally:
        client.close()
        server.close()
    return code, time.perf_counter() - started


async def test_filter_reject_fails_at_once_and_drop_times_out(pair: RunNetwork) -> None:
    await shape(pair, filter=FilterAction.REJECT)
    taken = measure(lambda: connect_error(pair, 2), lambda result: result[1] < 0.2)
    for code, _seconds in taken.values:
        assert code == errno.EHOSTUNREACH
    assert taken.value[1] < 0.2, f"rejected after {taken.value[1]:.3f} s; {taken}"
    await shape(pair, filter=FilterAction.DROP)
    assert connect_error(pair, 0.5)[0] == errno.ETIMEDOUT
    await shape(pair, filter=FilterAction.ACCEPT)
    assert connect_error(pair, 2)[0] is None
