"""The link model's statistics, with a seeded random source and a synthetic clock."""

import itertools
import random
import statistics
from datetime import timedelta

import pytest

from choreograph.net.shaping.link import QUEUE_LIMIT, CorrelatedDraw, LinkModel, corrupt
from choreograph.wire.network import LinkShape

MS = 1_000_000
PACKET = bytes([0x45]) + bytes(19) + bytes(980)  # a 1000-byte IPv4 packet


def send(shape: LinkShape, count: int, gap_ns: int = MS, seed: int = 1) -> list[list[int]]:
    """Delivery times of each packet's copies (relative to its send time)."""
    link = LinkModel(shape, random.Random(seed))
    return [[at - i * gap_ns for at, _ in link.transmit(PACKET, i * gap_ns)] for i in range(count)]


def test_transparent_link_delivers_at_once() -> None:
    link = LinkModel(LinkShape(), random.Random(1))
    assert link.transparent and link.transmit(PACKET, 5) == [(5, PACKET)]


def test_latency_and_uniform_jitter() -> None:
    shape = LinkShape(latency=timedelta(milliseconds=20), jitter=timedelta(milliseconds=5))
    delays = [d[0] / MS for d in send(shape, 5000)]
    assert 15 <= min(delays) < 15.1 and 24.9 < max(delays) <= 25
    assert statistics.mean(delays) == pytest.approx(20, abs=0.2)
    assert statistics.pstdev(delays) == pytest.approx(10 / 12**0.5, rel=0.05)  # uniform


@pytest.mark.parametrize("percent", [1.0, 10.0, 50.0])
def test_loss_rate(percent: float) -> None:
    results = send(LinkShape(loss=percent), 20_000)
    lost = sum(1 for r in results if not r) / len(results) * 100
    assert lost == pytest.approx(percent, abs=max(0.5, percent * 0.05))


def test_duplicates_and_corruption_rates() -> None:
    link = LinkModel(LinkShape(duplicate=20, corrupt=10), random.Random(3))
    copies = [link.transmit(PACKET, i) for i in range(20_000)]
    assert sum(len(c) for c in copies) / 20_000 == pytest.approx(1.2, abs=0.015)
    corrupted = sum(1 for c in copies if c[0][1] != PACKET)
    assert corrupted / 20_000 == pytest.approx(0.10, abs=0.01)
    assert all(c[-1][1] == PACKET for c in copies if len(c) == 2)  # the duplicate is intact


def test_corruption_flips_one_bit_after_the_ip_header() -> None:
    rng = random.Random(4)
    for _ in range(200):
        damaged = corrupt(PACKET, rng)
        diff = [i for i, (a, b) in enumerate(zip(PACKET, damaged, strict=True)) if a != b]
        assert (
            len(diff) == 1
            and diff[0] >= 20
            and bin(PACKET[diff[0]] ^ damaged[diff[0]]).count("1") == 1
        )


def test_reordered_packets_skip_the_delay() -> None:
    shape = LinkShape(latency=timedelta(milliseconds=10), reorder=25)
    delays = [d[0] for d in send(shape, 10_000)]
    early = sum(1 for d in delays if d == 0) / len(delays)
    assert early == pytest.approx(0.25, abs=0.015)
    assert set(delays) == {0, 10 * MS}


def test_correlation_makes_runs_longer() -> None:
    def mean_run(corr: float) -> float:
        draw = CorrelatedDraw(random.Random(5), 50, corr)
        hits = [draw.hit() for _ in range(50_000)]
        runs, length = [], 1
        for a, b in itertools.pairwise(hits):
            if a == b:
                length += 1
            else:
                runs.append(length)
                length = 1
        return statistics.mean(runs)

    assert mean_run(0) == pytest.approx(2.0, rel=0.05)  # independent draws at 50 %
    assert mean_run(90) > 3 * mean_run(0)


def test_bandwidth_serialises_and_bounds_the_queue() -> None:
    link = LinkModel(LinkShape(bandwidth=8_000_000), random.Random(1))  # 1 byte/us
    times = [at for i in range(10) for at, _ in link.transmit(PACKET, 0)]
    assert times == [(i + 1) * 1000 * 1000 for i in range(10)]  # 1000 B = 1 ms each
    burst = [link.transmit(PACKET, 0) for _ in range(QUEUE_LIMIT + 50)]
    assert sum(1 for b in burst if not b) == 60 and link.stats.overflowed == 60


def test_a_new_shape_keeps_the_serialisation_clock() -> None:
    old = LinkModel(LinkShape(bandwidth=8_000_000), random.Random(1))
    old.transmit(PACKET, 0)
    new = LinkModel(
        LinkShape(bandwidth=8_000_000, latency=timedelta(milliseconds=1)),
        random.Random(1),
        previous=old,
    )
    assert new.transmit(PACKET, 0) == [(2 * MS + MS, PACKET)]
