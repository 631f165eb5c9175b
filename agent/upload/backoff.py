"""Exponential backoff with full jitter, and the bandwidth limiter; clock, sleep and random injected."""

from __future__ import annotations

import random
from collections.abc import Callable

from agent.selection.budget import Clock, TokenBucket

#: Sleeps for the given seconds; returns True if it was woken early because the agent is stopping.
Sleeper = Callable[[float], bool]


class Backoff:
    """Delay before retry ``n`` (0-based) is uniform in [0, min(cap_s, base_s * 2**n)] — "full
    jitter", so a fleet that lost the backend at the same moment does not reconnect in lockstep."""

    def __init__(self, base_s: float, cap_s: float, rng: random.Random) -> None:
        if base_s <= 0 or cap_s < base_s:
            raise ValueError(f"backoff needs 0 < base_s <= cap_s, got {base_s}, {cap_s}")
        self.base_s = base_s
        self.cap_s = cap_s
        self._rng = rng

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt``."""
        ceiling = min(self.cap_s, self.base_s * 2.0 ** min(attempt, 60))
        return self._rng.uniform(0.0, ceiling)


class BandwidthLimiter:
    """Caps upload throughput at ``bytes_per_s`` with a burst of ``burst_bytes``
    (``bytes_per_s = inf`` disables the cap)."""

    def __init__(
        self, bytes_per_s: float, burst_bytes: float, clock: Clock, sleep: Sleeper
    ) -> None:
        self._bucket = TokenBucket(burst_bytes, bytes_per_s, clock)
        self._sleep = sleep

    def acquire(self, size: int) -> bool:
        """Wait until ``size`` bytes may be sent; False if the wait was cut short by a stop."""
        wait = self._bucket.take_debt(float(size))
        if wait > 0.0:
            return not self._sleep(wait)
        return True
