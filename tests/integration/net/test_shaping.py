"""Each LinkShape field, measured on real traffic between two namespaces.

Sender and receiver sockets live in the test process (created inside the namespaces), so
one monotonic clock timestamps both ends: one-way delays are measured directly. Tolerances
are set from the statistics of the sample sizes used (about 3 sigma) plus the switch's
wake-up latency (tens of microseconds).
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


async def test_latency(pair: RunNetwork) -> None:
    await shape(pair, latency=timedelta(milliseconds=30))
    delays = blast(pair, 100, 2 * MS).delays()
    assert len(delays) == 100
    assert min(delays) >= 30 * MS, "never early"
    assert statistics.median(delays) < 30.5 * MS
    assert statistics.quantiles(delays, n=10)[-1] < 32 * MS  # p90: a shared CI host hiccups


async def test_jitter_is_uniform_around_the_latency(pair: RunNetwork) -> None:
    await shape(pair, latency=timedelta(milliseconds=20), jitter=timedelta(milliseconds=10))
    delays = blast(pair, 500, 0.5 * MS).delays()
    assert len(delays) == 500
    assert 10 * MS <= min(delays) < 11 * MS and max(delays) > 29 * MS
    assert statistics.quantiles(delays, n=100)[-1] < 31 * MS
    assert statistics.pstdev(delays) == pytest.approx(10 * MS / 3**0.5, rel=0.15)


@pytest.mark.parametrize("mbit", [4, 20])
async def test_bandwidth(pair: RunNetwork, mbit: int) -> None:
    rate = mbit * 1_000_000
    await shape(pair, bandwidth=rate)
    size = 1000  # + 28 bytes of IPv4 and UDP headers: what the link counts
    count = int(rate / ((size + 28) * 8) * 1.0)  # one second of traffic at the link rate
    trace = blast(pair, count, (size + 28) * 8 / (rate * 1.3), size)  # offered at 130 %
    times = [seq_time for seq_time in _arrival_times(trace)]
    measured = (len(times) - 1) * (size + 28) * 8 / (times[-1] - times[0])
    assert len(times) == count, "nothing may be lost below the queue limit"
    assert measured == pytest.approx(rate, rel=0.05)


def _arrival_times(trace: Trace) -> list[float]:
    # Arrival time = send time + delay; the sender's clock is the test's clock.
    return [HEADER.unpack_from(data)[1] + delay for _, delay, data in trace.arrivals]


async def test_loss(pair: RunNetwork) -> None:
    await shape(pair, loss=20.0)
    trace = blast(pair, 3000, 0.1 * MS)
    assert len(trace.arrivals) / 3000 == pytest.approx(0.80, abs=0.03)


async def test_duplicate(pair: RunNetwork) -> None:
    await shape(pair, duplicate=25.0)
    trace = blast(pair, 3000, 0.1 * MS)
    seqs = trace.seqs()
    assert set(seqs) == set(range(3000))
    assert len(seqs) / 3000 == pytest.approx(1.25, abs=0.03)


async def test_corrupt(pair: RunNetwork) -> None:
    await shape(pair, corrupt=20.0)
    trace = blast(pair, 3000, 0.1 * MS, no_checksum=True)
    damaged = 1 - trace.intact() / 3000  # payload changed, or UDP header hit and lost
    assert damaged == pytest.approx(0.20, abs=0.03)


async def test_corrupted_packets_fail_the_checksum(pair: RunNetwork) -> None:
    await shape(pair, corrupt=20.0)
    trace = blast(pair, 2000, 0.1 * MS)  # with UDP checksums, as applications send
    assert trace.intact() == len(trace.arrivals)
    assert len(trace.arrivals) / 2000 == pytest.approx(0.80, abs=0.035)


async def test_reorder_skips_the_latency(pair: RunNetwork) -> None:
    await shape(pair, latency=timedelta(milliseconds=20), reorder=30.0)
    trace = blast(pair, 1000, 0.5 * MS)
    early = [d for d in trace.delays() if d < 5 * MS]
    assert len(trace.arrivals) == 1000
    assert len(early) / 1000 == pytest.approx(0.30, abs=0.045)
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
    # 50 %), so only the bursts change.
    await shape(pair, latency=timedelta(milliseconds=10), reorder=50.0)
    independent = mean_burst(blast(pair, 1500, 0.2 * MS))
    await shape(pair, latency=timedelta(milliseconds=10), reorder=50.0, reorder_corr=90.0)
    correlated = mean_burst(blast(pair, 1500, 0.2 * MS))
    assert correlated > 2 * independent


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
    code, seconds = connect_error(pair, 2)
    assert code == errno.EHOSTUNREACH and seconds < 0.2
    await shape(pair, filter=FilterAction.DROP)
    assert connect_error(pair, 0.5)[0] == errno.ETIMEDOUT
    await shape(pair, filter=FilterAction.ACCEPT)
    assert connect_error(pair, 2)[0] is None
