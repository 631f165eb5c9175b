"""The benchmarks' turn-taking timer: what it counts and what it leaves out."""

from __future__ import annotations

from collections.abc import Callable

from benchmarks.timing import race


def test_race_counts_block_minus_one_calls_per_turn_after_the_warm_ups() -> None:
    calls = {"a": 0, "b": 0}

    def make(name: str) -> Callable[[], None]:
        def fn() -> None:
            calls[name] += 1

        return fn

    timed = race({n: make(n) for n in calls}, repeats=6, warmup=3, block=4, idle_s=0.0, warm_s=0.0)
    # 3 start-up calls, then two turns of one uncounted switch-over call and three timed calls
    assert calls == {"a": 11, "b": 11}
    assert timed["a"]["repeats"] == timed["b"]["repeats"] == 6
    assert 0.0 <= timed["a"]["min_ms"] <= timed["a"]["median_ms"] <= timed["a"]["p90_ms"]


def test_race_warms_each_turn_up_for_warm_s_without_counting_it() -> None:
    calls = 0

    def fn() -> None:
        nonlocal calls
        calls += 1

    timed = race({"fn": fn}, repeats=3, warmup=0, block=4, idle_s=0.0, warm_s=0.02)
    assert timed["fn"]["repeats"] == 3
    assert calls > 1 + 3  # the warm-up kept calling for 20 ms: far more than one call
