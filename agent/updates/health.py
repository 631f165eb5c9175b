"""Health of the running model as the rollout watches it: frames, trigger frames, errors, the
analysis latency and the frame anomaly score, per model version, since the last report.

The pipeline thread records every frame; the update thread ``take``s the windows, reports them
and ``restore``s those the backend did not acknowledge, so the reported counts add up to what
ran. Latencies and scores keep a uniform sample of at most ``max_samples`` values per window
(reservoir sampling), so memory stays bounded however long the backend is unreachable.
"""

from __future__ import annotations

import math
import random
import threading
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class HealthSummary:
    """One report: counts since the last acknowledged report, latency of analysis per frame in
    milliseconds (p50, p99) and the frame score in [0, 1] (mean, p95); 0.0 with no samples."""

    version: str
    frames: int
    triggers: int
    errors: int
    latency_ms_p50: float
    latency_ms_p99: float
    score_mean: float
    score_p95: float


class _Reservoir:
    """A uniform sample of at most ``size`` of the values offered (Algorithm R)."""

    def __init__(self, size: int, rng: random.Random) -> None:
        self.size = size
        self.seen = 0
        self.values: list[float] = []
        self._rng = rng

    def add(self, value: float) -> None:
        self.seen += 1
        if len(self.values) < self.size:
            self.values.append(value)
            return
        slot = self._rng.randrange(self.seen)
        if slot < self.size:
            self.values[slot] = value

    def merge(self, other: _Reservoir) -> None:
        for value in other.values:
            self.add(value)


@dataclass
class HealthWindow:
    """What one version did since its last acknowledged report."""

    latencies_ms: _Reservoir
    scores: _Reservoir
    frames: int = 0
    triggers: int = 0
    errors: int = 0

    def summary(self, version: str) -> HealthSummary:
        lat = np.asarray(self.latencies_ms.values, dtype=np.float64)
        score = np.asarray(self.scores.values, dtype=np.float64)
        return HealthSummary(
            version=version,
            frames=self.frames,
            triggers=self.triggers,
            errors=self.errors,
            latency_ms_p50=float(np.percentile(lat, 50)) if lat.size else 0.0,
            latency_ms_p99=float(np.percentile(lat, 99)) if lat.size else 0.0,
            score_mean=float(score.mean()) if score.size else 0.0,
            score_p95=float(np.percentile(score, 95)) if score.size else 0.0,
        )


class HealthRecorder:
    """Thread-safe per-version health windows (see the module docstring)."""

    def __init__(self, max_samples: int = 10_000, rng: random.Random | None = None) -> None:
        if max_samples < 1:
            raise ValueError(f"max_samples must be >= 1, got {max_samples}")
        self.max_samples = max_samples
        self._rng = rng if rng is not None else random.Random()
        self._lock = threading.Lock()
        self._windows: dict[str, HealthWindow] = {}

    def empty_window(self) -> HealthWindow:
        """A window with nothing in it (a report that only carries a refusal)."""
        return HealthWindow(
            _Reservoir(self.max_samples, self._rng), _Reservoir(self.max_samples, self._rng)
        )

    def _window(self, version: str) -> HealthWindow:
        window = self._windows.get(version)
        if window is None:
            window = self._windows[version] = self.empty_window()
        return window

    def frame(self, version: str, latency_s: float, score: float, triggered: bool) -> None:
        """One analysed frame: its analysis time (seconds), frame score, whether a rule fired."""
        with self._lock:
            window = self._window(version)
            window.frames += 1
            window.triggers += int(triggered)
            if math.isfinite(latency_s):
                window.latencies_ms.add(latency_s * 1e3)
            if math.isfinite(score):  # a frame without a score does not skew the distribution
                window.scores.add(min(max(score, 0.0), 1.0))

    def error(self, version: str) -> None:
        """One frame the pipeline could not process while ``version`` ran."""
        with self._lock:
            self._window(version).errors += 1

    def take(self) -> dict[str, HealthWindow]:
        """Every window with something in it, removed from the recorder."""
        with self._lock:
            taken, self._windows = self._windows, {}
        return {v: w for v, w in taken.items() if w.frames or w.errors}

    def restore(self, version: str, window: HealthWindow) -> None:
        """Put back a window whose report was not acknowledged (merged with what came since)."""
        with self._lock:
            mine = self._window(version)
            mine.frames += window.frames
            mine.triggers += window.triggers
            mine.errors += window.errors
            mine.latencies_ms.merge(window.latencies_ms)
            mine.scores.merge(window.scores)
