"""Drift of the suite against the fleet's recent frames, over simple per-frame statistics.

Pure numpy. Each frame is summarised by ``frame_statistics`` (point count, mean horizontal range,
share of far returns, mean intensity); the drift of one statistic is the two-sample
Kolmogorov-Smirnov distance between the suite's and the fleet's values (the largest gap between
the two empirical CDFs: 0 = same distribution, 1 = disjoint), and the drift of the suite is the
largest of them. Scale-free, so one threshold reads the same for counts and for intensities.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from backend.errors import EvaluationError

#: a return beyond this horizontal range (metres) counts as far
FAR_RANGE_M = 40.0
FRAME_STATISTICS = ("num_points", "mean_range_m", "far_share", "mean_intensity")


def frame_statistics(points: npt.NDArray[np.float32]) -> dict[str, float]:
    """The statistics of one frame of float32 ``(N, 4)`` points (sensor frame, metres,
    intensity in [0, 1]), rounded to 6 digits so that manifests are stable."""
    n = int(points.shape[0])
    if n == 0:
        return {"num_points": 0.0, "mean_range_m": 0.0, "far_share": 0.0, "mean_intensity": 0.0}
    rng = np.hypot(points[:, 0].astype(np.float64), points[:, 1].astype(np.float64))
    return {
        "num_points": float(n),
        "mean_range_m": round(float(rng.mean()), 6),
        "far_share": round(float((rng > FAR_RANGE_M).mean()), 6),
        "mean_intensity": round(float(points[:, 3].astype(np.float64).mean()), 6),
    }


def ks_distance(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: max |F_a(x) - F_b(x)| over x."""
    x = np.sort(np.asarray(a, dtype=np.float64))
    y = np.sort(np.asarray(b, dtype=np.float64))
    if x.size == 0 or y.size == 0:
        raise EvaluationError(f"drift needs frames on both sides, got {x.size} and {y.size}")
    grid = np.concatenate([x, y])
    fa = np.searchsorted(x, grid, side="right") / x.size
    fb = np.searchsorted(y, grid, side="right") / y.size
    return float(np.abs(fa - fb).max())


@dataclass(frozen=True)
class DriftReport:
    """KS distance per statistic, the largest of them, and how many frames were compared."""

    per_statistic: dict[str, float]
    suite_frames: int
    fleet_frames: int

    @property
    def value(self) -> float:
        return max(self.per_statistic.values())

    @property
    def worst(self) -> str:
        return max(self.per_statistic, key=lambda k: self.per_statistic[k])


def drift_report(
    suite_stats: Sequence[Mapping[str, float]], fleet_stats: Sequence[Mapping[str, float]]
) -> DriftReport:
    """Compare the per-frame statistics of the suite with those of the fleet's recent frames
    (each a mapping with every key of ``FRAME_STATISTICS``)."""
    per = {}
    for key in FRAME_STATISTICS:
        try:
            a = [s[key] for s in suite_stats]
            b = [s[key] for s in fleet_stats]
        except KeyError:
            raise EvaluationError(f"frame statistics lack {key!r}") from None
        per[key] = ks_distance(a, b)
    return DriftReport(per, len(suite_stats), len(fleet_stats))
