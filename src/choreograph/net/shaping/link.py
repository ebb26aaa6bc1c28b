"""What happens to one packet sent on one shaped link: pure, with an injected clock and
random source, so its statistics can be tested without a network.

The model follows the kernel's (htb rate with a netem leaf, as Testground's sidecar
configures it), in this order:

1. **loss** — dropped before it costs any bandwidth;
2. **duplicate** — a second copy goes through everything below on its own;
3. **corrupt** — one random bit flipped after the IP header, so IP still delivers the
   packet and the transport checksum catches it, as with a bit error on a wire;
4. **bandwidth** — serialised behind earlier packets at ``bandwidth`` bits/s counting IP
   bytes; at most :data:`QUEUE_LIMIT` packets wait (netem's default ``limit``), more are
   tail-dropped;
5. **delay** — ``latency`` plus a uniform draw in ``±jitter`` (netem without a
   distribution table), except a **reordered** packet, which skips the delay.

Each ``*_corr`` is netem's correlation: a draw is ``(1 - corr)*u + corr*previous``, compared with
the probability. Like netem's, it changes the hit rate as well as the burstiness; that is
what Testground users get under netem, so it is kept.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass

from choreograph.wire.network import FilterAction, LinkShape

QUEUE_LIMIT = 1000
NS = 1_000_000_000


class CorrelatedDraw:
    """netem's ``get_crandom``: a Bernoulli trial of ``percent`` with correlation ``corr``."""

    def __init__(self, rng: random.Random, percent: float, corr: float) -> None:
        self._rng = rng
        self._p = percent / 100.0
        self._rho = corr / 100.0
        self._last = rng.random()

    def hit(self) -> bool:
        if self._p <= 0.0:
            return False
        value = self._rng.random()
        if self._rho:
            value = (1.0 - self._rho) * value + self._rho * self._last
            self._last = value
        return value < self._p


@dataclass
class LinkStats:
    sent: int = 0
    lost: int = 0
    duplicated: int = 0
    corrupted: int = 0
    reordered: int = 0
    overflowed: int = 0


class LinkModel:
    """The state of one shaped link (one sender, one rule). Replacing a shape on the fly
    keeps the serialisation clock (``previous``), so a bandwidth change does not let a
    burst through."""

    def __init__(
        self, shape: LinkShape, rng: random.Random, previous: LinkModel | None = None
    ) -> None:
        self.shape = shape
        self.filter = shape.filter
        self.stats = LinkStats()
        self._rng = rng
        self._latency = int(shape.latency.total_seconds() * NS)
        self._jitter = int(shape.jitter.total_seconds() * NS)
        self._ns_per_byte = 8 * NS / shape.bandwidth if shape.bandwidth else 0.0
        self._loss = shape.loss / 100.0
        self._duplicate = CorrelatedDraw(rng, shape.duplicate, shape.duplicate_corr)
        self._corrupt = CorrelatedDraw(rng, shape.corrupt, shape.corrupt_corr)
        self._reorder = CorrelatedDraw(rng, shape.reorder, shape.reorder_corr)
        self._free_at: int = previous._free_at if previous else 0
        self._queue: deque[int] = previous._queue if previous else deque()
        self.transparent = shape == LinkShape(filter=shape.filter)
        """No shaping at all: the switch may forward at once."""

    def transmit(self, packet: bytes, now: int) -> list[tuple[int, bytes]]:
        """The copies of ``packet`` (sent at ``now``, ns) to deliver, with their times."""
        self.stats.sent += 1
        if self._loss and self._rng.random() < self._loss:
            self.stats.lost += 1
            return []
        out = []
        if self._corrupt.hit():
            self.stats.corrupted += 1
            copies = [corrupt(packet, self._rng)]
        else:
            copies = [packet]
        if self._duplicate.hit():
            self.stats.duplicated += 1
            copies.append(packet)
        for copy in copies:
            depart = self._serialise(len(copy), now)
            if depart is None:
                self.stats.overflowed += 1
                continue
            out.append((depart + self._delay(), copy))
        return out

    def _serialise(self, size: int, now: int) -> int | None:
        if not self._ns_per_byte:
            return now
        queue = self._queue
        while queue and queue[0] <= now:
            queue.popleft()
        if len(queue) >= QUEUE_LIMIT:
            return None
        self._free_at = max(now, self._free_at) + int(size * self._ns_per_byte)
        queue.append(self._free_at)
        return self._free_at

    def _delay(self) -> int:
        if self._reorder.hit():
            self.stats.reordered += 1
            return 0
        if not self._jitter:
            return self._latency
        return max(0, self._latency + int(self._rng.uniform(-self._jitter, self._jitter)))

    @property
    def rejects(self) -> bool:
        return self.filter is FilterAction.REJECT


def corrupt(packet: bytes, rng: random.Random) -> bytes:
    """``packet`` with one random bit flipped after its IPv4 header (anywhere if none)."""
    start = (packet[0] & 0x0F) * 4 if packet and packet[0] >> 4 == 4 else 0
    if start >= len(packet):
        start = 0
    if not packet:
        return packet
    index = rng.randrange(start, len(packet))
    data = bytearray(packet)
    data[index] ^= 1 << rng.randrange(8)
    return bytes(data)
