"""Timing of competing implementations on a shared machine: medians of calls taken in turns."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def _summary(times: list[float]) -> dict[str, float]:
    times = sorted(times)
    return {
        "median_ms": statistics.median(times),
        "min_ms": times[0],
        "p10_ms": times[len(times) // 10],
        "p90_ms": times[(9 * len(times)) // 10],
        "repeats": len(times),
    }


def timeit(fn: Callable[[], object], repeats: int, warmup: int = 3) -> dict[str, float]:
    """Median, p10 and p90 wall time of ``fn()`` in milliseconds."""
    timed: dict[str, float] = race({"fn": fn}, repeats, warmup, idle_s=0.0)["fn"]
    return timed


def race(
    fns: dict[str, Callable[[], object]],
    repeats: int,
    warmup: int = 3,
    block: int = 16,
    idle_s: float = 0.2,
    warm_s: float = 0.01,
) -> dict[str, Any]:
    """Time competing implementations round-robin, ``block`` calls of each per round.

    On a shared machine the load drifts during a run; taking turns gives every implementation
    the same conditions, so their ratios hold even where the absolute times wander. Turns are
    blocks, not single calls, each after ``idle_s`` of sleep and with its first calls not counted:
    OpenBLAS, numba's OpenMP pool, faiss and PyTorch each keep their worker threads spinning for
    a while after a parallel call (OpenBLAS for up to ~0.1 s), and a call that starts while
    another library's workers spin runs on fewer free cores (a per-call round-robin measured
    numpy's 10^4-entry kNN at 6x the time it takes on its own).

    After the gap the core is slow for a while (on the shared development VM a 20 us kernel took
    twice its steady time for the first ~2 ms after a 0.2 s sleep), so each block starts with
    ``warm_s`` of uncounted calls (at least one): microsecond kernels are timed warm, like the
    millisecond ones.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    counted = max(block - 1, 1)
    for _ in range(-(-repeats // counted)):
        for name, fn in fns.items():
            time.sleep(idle_s)  # let the other libraries' spinning workers go to sleep
            # switch-over calls: core, caches and this library's pool warm up again
            warm_until = time.perf_counter() + warm_s
            fn()
            while time.perf_counter() < warm_until:
                fn()
            for _ in range(counted):
                start = time.perf_counter_ns()
                fn()
                times[name].append((time.perf_counter_ns() - start) / 1e6)
    return {name: _summary(t) for name, t in times.items()}
