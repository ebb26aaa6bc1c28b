"""What a mock collector does with one request: drop it, or wait and answer with a status.

Pure (the random source is passed in), so a seeded ``random.Random`` replays the same
decisions. A :class:`Behaviour` is a mode's defaults with what the composition overrides:

=================  =========================================================  ======
mode               latency                                                    status
=================  =========================================================  ======
``typical``        normal, mean 1 ms, stddev 0.25 ms, at least 0.5 ms          200
``slow_succeed``   normal, mean 500 ms, stddev 50 ms, at least 400 ms          200
``slow_fail``      normal, mean 500 ms, stddev 50 ms, at least 400 ms          503
=================  =========================================================  ======

A ``latency`` given in the composition replaces the mode's whole latency (the mode then
decides only the status). Per request, in this order: ``drop_rate`` closes the connection
at once without an answer; otherwise the latency is waited, then ``error_rate`` answers
500, and the rest get the mode's status.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from typing import Any

DISTRIBUTIONS = ("constant", "uniform", "normal", "exponential")
ERROR_STATUS = 500


@dataclass(frozen=True)
class Latency:
    """A latency distribution in seconds; every sample is clamped to ``[min, max]``."""

    distribution: str = "constant"
    mean: float = 0.0
    stddev: float = 0.0
    min: float = 0.0
    max: float = math.inf

    def sample(self, rng: random.Random) -> float:
        if self.distribution == "uniform":
            value = rng.uniform(self.min, self.max)
        elif self.distribution == "normal":
            value = rng.gauss(self.mean, self.stddev)
        elif self.distribution == "exponential":
            # Shifted so that the mean is ``mean`` although nothing is below ``min``.
            value = self.min + rng.expovariate(1.0 / (self.mean - self.min))
        else:
            value = self.mean
        return min(max(value, self.min), self.max)

    def problem(self) -> str:
        """Why these settings cannot be sampled ("" when they can)."""
        if self.distribution not in DISTRIBUTIONS:
            return f"expected a distribution in {', '.join(DISTRIBUTIONS)}"
        if self.min < 0 or self.max < self.min:
            return "expected 0 ≤ min ≤ max"
        if self.distribution == "uniform" and math.isinf(self.max):
            return "a uniform distribution needs min and max"
        if self.distribution == "exponential" and self.mean <= self.min:
            return "an exponential distribution needs mean > min"
        if self.mean < 0 or self.stddev < 0:
            return "expected mean ≥ 0 and stddev ≥ 0"
        return ""


@dataclass(frozen=True)
class Behaviour:
    mode: str
    status: int
    latency: Latency
    error_rate: float = 0.0
    drop_rate: float = 0.0


_SLOW = Latency("normal", mean=0.5, stddev=0.05, min=0.4)
MODES = {
    "typical": Behaviour("typical", 200, Latency("normal", mean=0.001, stddev=0.00025, min=0.0005)),
    "slow_succeed": Behaviour("slow_succeed", 200, _SLOW),
    "slow_fail": Behaviour("slow_fail", 503, _SLOW),
}


def behaviour(settings: dict[str, Any]) -> Behaviour:
    """The mode's defaults with ``settings`` (``mode``, ``latency`` as a dict of
    :class:`Latency` fields, ``error_rate``, ``drop_rate``) applied; ValueError when they
    make no sense."""
    mode = settings.get("mode", "typical")
    if mode not in MODES:
        raise ValueError(f"mode {mode!r}: expected one of {', '.join(MODES)}")
    chosen = MODES[mode]
    if "latency" in settings:
        latency = Latency(**settings["latency"])
        if problem := latency.problem():
            raise ValueError(f"latency: {problem}")
        chosen = replace(chosen, latency=latency)
    rates = {rate: float(settings.get(rate, 0.0)) for rate in ("error_rate", "drop_rate")}
    for rate, value in rates.items():
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{rate}: expected a number in [0, 1], found {value}")
    return replace(chosen, error_rate=rates["error_rate"], drop_rate=rates["drop_rate"])


@dataclass(frozen=True)
class Answer:
    """One request's fate: ``drop`` it, or answer ``status`` after ``delay`` seconds."""

    drop: bool
    delay: float = 0.0
    status: int = 200


def decide(behaviour: Behaviour, rng: random.Random) -> Answer:
    if behaviour.drop_rate and rng.random() < behaviour.drop_rate:
        return Answer(drop=True)
    delay = behaviour.latency.sample(rng)
    if behaviour.error_rate and rng.random() < behaviour.error_rate:
        return Answer(False, delay, ERROR_STATUS)
    return Answer(False, delay, behaviour.status)
