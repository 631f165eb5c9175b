"""Token buckets with an injectable clock: the frames-per-hour and bytes-per-day budgets.

The same bucket throttles upload bandwidth (``agent.upload.throttle``).
"""

from __future__ import annotations

import math
import time
from typing import Protocol


class Clock(Protocol):
    """Monotonic seconds; the real one is ``time.monotonic``, tests pass a fake they advance."""

    def __call__(self) -> float: ...


def monotonic_clock() -> Clock:
    """The production clock."""
    return time.monotonic


class TokenBucket:
    """``capacity`` tokens, refilled continuously at ``rate_per_s`` tokens per second.

    Starts full. ``rate_per_s = inf`` disables the limit.
    """

    def __init__(self, capacity: float, rate_per_s: float, clock: Clock) -> None:
        if capacity <= 0 or rate_per_s <= 0:
            raise ValueError(f"capacity and rate must be > 0, got {capacity}, {rate_per_s}")
        self.capacity = capacity
        self.rate_per_s = rate_per_s
        self._clock = clock
        self._tokens = capacity
        self._stamp = clock()

    @property
    def unlimited(self) -> bool:
        return math.isinf(self.rate_per_s)

    def available(self) -> float:
        """Tokens available now (refills first)."""
        now = self._clock()
        if not self.unlimited:
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate_per_s)
        self._stamp = now
        return math.inf if self.unlimited else self._tokens

    def try_take(self, amount: float, *, keep: float = 0.0) -> bool:
        """Take ``amount`` tokens if at least ``amount + keep`` are available (``keep`` reserves
        the rest for higher-priority callers)."""
        if self.available() < amount + keep:
            return False
        if not self.unlimited:
            self._tokens -= amount
        return True

    def take_debt(self, amount: float) -> float:
        """Take ``amount`` even if it drives the bucket negative; return the seconds until the
        balance is back to zero (the wait a bandwidth limiter must observe)."""
        if self.unlimited:
            return 0.0
        self.available()
        self._tokens -= amount
        return max(0.0, -self._tokens / self.rate_per_s)


class SelectionBudget:
    """Frames per hour and bytes per day, each as a token bucket with a burst of one period.

    Frames whose priority is below ``reserve_below_priority`` may not use the last
    ``reserve_fraction`` of either bucket, so a run of mediocre frames cannot spend what a rarer,
    higher-scoring frame needs later.
    """

    def __init__(
        self,
        frames_per_hour: float,
        bytes_per_day: float,
        clock: Clock,
        *,
        reserve_fraction: float = 0.2,
        reserve_below_priority: float = 1.5,
    ) -> None:
        self.frames = TokenBucket(frames_per_hour, frames_per_hour / 3600.0, clock)
        self.bytes = TokenBucket(bytes_per_day, bytes_per_day / 86400.0, clock)
        self.reserve_fraction = reserve_fraction
        self.reserve_below_priority = reserve_below_priority

    def _keep(self, bucket: TokenBucket, priority: float) -> float:
        if priority >= self.reserve_below_priority or bucket.unlimited:
            return 0.0
        return bucket.capacity * self.reserve_fraction

    def try_frame(self, priority: float) -> bool:
        """Spend one frame token (a triggered frame); False when over budget."""
        return self.frames.try_take(1.0, keep=self._keep(self.frames, priority))

    def try_bytes(self, size: int, priority: float) -> bool:
        """Spend ``size`` bytes of the daily budget (every kept frame, context frames too)."""
        return self.bytes.try_take(float(size), keep=self._keep(self.bytes, priority))
