from __future__ import annotations

import math

import pytest

from agent.selection.budget import SelectionBudget, TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_bucket_starts_full_and_refills_at_its_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(3, 0.5, clock)
    assert [bucket.try_take(1) for _ in range(4)] == [True, True, True, False]
    clock.t += 1.0  # half a token
    assert not bucket.try_take(1)
    clock.t += 1.0
    assert bucket.try_take(1)
    clock.t += 100.0  # refill caps at capacity
    assert bucket.available() == 3


def test_debt_returns_the_wait_until_the_balance_recovers() -> None:
    clock = FakeClock()
    bucket = TokenBucket(100, 50, clock)
    assert bucket.take_debt(100) == 0.0
    assert bucket.take_debt(100) == pytest.approx(2.0)
    clock.t += 2.0
    assert bucket.available() == pytest.approx(0.0)


def test_unlimited_bucket_never_refuses() -> None:
    bucket = TokenBucket(1, math.inf, FakeClock())
    assert all(bucket.try_take(1e9) for _ in range(10))
    assert bucket.take_debt(1e12) == 0.0


def test_frames_per_hour_budget_with_a_reserve_for_high_priority() -> None:
    clock = FakeClock()
    budget = SelectionBudget(10, 1e9, clock, reserve_fraction=0.2, reserve_below_priority=1.5)
    low = [budget.try_frame(priority=1.0) for _ in range(10)]
    assert low.count(True) == 8  # the last 20 % is kept for rarer frames
    assert budget.try_frame(priority=2.0)
    assert budget.try_frame(priority=2.0)
    assert not budget.try_frame(priority=2.0)
    clock.t += 360.0  # one frame per 6 minutes
    assert budget.try_frame(priority=2.0)


def test_bytes_per_day_budget() -> None:
    clock = FakeClock()
    budget = SelectionBudget(1000, 86_400, clock, reserve_fraction=0.0)
    assert budget.try_bytes(80_000, 1.0)
    assert not budget.try_bytes(10_000, 1.0)
    clock.t += 10_000.0  # one byte per second
    assert budget.try_bytes(10_000, 1.0)
