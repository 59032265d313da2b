"""Progressive rollout: the percentage at a moment, and deterministic bucketing of keys.

Bucketing is Unleash's normalised murmur3 (``normalizedValue``): the 32-bit murmur3 hash
(seed 0) of ``"<group>:<key>"``, modulo 100, plus one. A key is in the rollout when its bucket
is at most the current percentage, so a key that is in stays in as the percentage grows, and
the same key lands in the same bucket in every process and every Unleash-compatible client.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import mmh3

NORMALIZER = 100


def normalized_value(key: str, group: str, normalizer: int = NORMALIZER) -> int:
    """The bucket of ``key`` in ``group``: 1 to ``normalizer``."""
    return int(mmh3.hash(f"{group}:{key}", 0, signed=False)) % normalizer + 1


@dataclass(frozen=True)
class Rollout:
    """A percentage that moves from ``start_percent`` to ``end_percent`` between two moments."""

    start: datetime
    end: datetime
    start_percent: float = 0.0
    end_percent: float = 100.0
    # Seconds since the epoch, computed once: percent() runs on every evaluation, and datetime
    # arithmetic was almost half of its cost.
    _start_s: float = field(init=False, repr=False, compare=False)
    _end_s: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_start_s", self.start.timestamp())
        object.__setattr__(self, "_end_s", self.end.timestamp())

    def percent(self, now: datetime) -> float:
        """The rollout percentage at ``now`` (linear between start and end)."""
        moment = now.timestamp()
        if moment <= self._start_s:
            return self.start_percent
        if moment >= self._end_s:
            return self.end_percent
        elapsed = (moment - self._start_s) / (self._end_s - self._start_s)
        return self.start_percent + (self.end_percent - self.start_percent) * elapsed
