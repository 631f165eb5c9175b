"""Frame bootstrap, vectorised: every figure is a function of per-frame weights.

A replicate resamples the F frames with replacement; it is represented by a weight per frame
(how often the frame was drawn, ``(B, F)`` integers summing to F per row). Every metric here takes
weights, so the point estimate is the same function with one row of ones: one implementation for
the value and its interval. Champion and candidate are scored with the *same* weights, which makes
their difference a paired bootstrap (the frame-to-frame variance they share cancels).

Intervals are percentile intervals: the (1 - level)/2 and (1 + level)/2 quantiles of the
replicates, replicates where the figure is undefined (no object drawn) left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from backend.errors import EvaluationError
from backend.evaluation.algo import RECALL_POINTS

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
#: equal-width confidence bins of the expected calibration error
ECE_BINS = 10


@dataclass(frozen=True)
class Estimate:
    """A figure with its bootstrap interval [lo, hi] (nan where undefined)."""

    value: float
    lo: float
    hi: float

    def to_json(self) -> dict[str, float | None]:
        return {k: (None if math.isnan(v) else v) for k, v in self.__dict__.items()}


def bootstrap_weights(n_frames: int, n_boot: int, rng: np.random.Generator) -> I64:
    """``(n_boot, n_frames)`` draw counts of a frame bootstrap."""
    if n_frames < 1 or n_boot < 1:
        raise EvaluationError(f"bootstrap needs frames and replicates, got {n_frames}, {n_boot}")
    p = np.full(n_frames, 1.0 / n_frames)
    return rng.multinomial(n_frames, p, size=n_boot).astype(np.int64)


def estimate(value: float, replicates: F64, level: float) -> Estimate:
    """``value`` with the percentile interval of ``replicates`` at ``level`` (e.g. 0.95)."""
    if not 0.0 < level < 1.0:
        raise EvaluationError(f"confidence level must be in (0, 1), got {level}")
    finite = replicates[np.isfinite(replicates)]
    if math.isnan(value) or finite.size == 0:
        return Estimate(value, math.nan, math.nan)
    lo, hi = np.quantile(finite, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return Estimate(float(value), float(lo), float(hi))


def ratio(weights: npt.NDArray[np.integer] | F64, num: F64, den: F64) -> F64:
    """Per row of ``weights`` (R, F): sum(w * num) / sum(w * den); nan where the denominator is
    0 (e.g. recall = hits / objects with per-frame counts)."""
    w = np.asarray(weights, dtype=np.float64)
    n, d = w @ num, w @ den
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(d > 0, n / np.where(d > 0, d, 1.0), np.nan)


def average_precision(det_weights: F64, scores: F64, tp: npt.NDArray[np.bool_], num_gt: F64) -> F64:
    """Interpolated AP at ``RECALL_POINTS`` recall levels (KITTI R40, as ``algo``) per row:
    ``det_weights`` (R, D) is how often each detection's frame was drawn, ``num_gt`` (R,) the
    drawn ground-truth count; nan where that count is 0. A detection drawn k times counts as k
    detections of equal score, which is what copying its frame does."""
    r = det_weights.shape[0]
    out = np.full(r, np.nan)
    has_gt = num_gt > 0
    if scores.size == 0:
        out[has_gt] = 0.0
        return out
    order = np.argsort(-scores, kind="stable")
    w = det_weights[:, order]
    t = tp[order]
    ctp = np.cumsum(w * t, axis=1)
    cfp = np.cumsum(w * ~t, axis=1)
    drawn = ctp + cfp
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(drawn > 0, ctp / np.where(drawn > 0, drawn, 1.0), 0.0)
        recall = ctp / np.where(has_gt, num_gt, 1.0)[:, None]
    envelope = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
    envelope = np.concatenate([envelope, np.zeros((r, 1))], axis=1)  # past the end: 0
    levels = np.arange(1, RECALL_POINTS + 1) / RECALL_POINTS
    total = np.zeros(r)
    for level in levels:  # 40 vectorised steps over (R, D), not a loop over detections
        first = (recall < level - 1e-12).sum(axis=1)  # recall is non-decreasing per row
        total += envelope[np.arange(r), first]
    out[has_gt] = total[has_gt] / RECALL_POINTS
    return out


def calibration_error(
    det_weights: F64, confidence: F64, correct: npt.NDArray[np.bool_], bins: int = ECE_BINS
) -> F64:
    """Expected calibration error per row: sum over equal-width confidence bins of
    |sum w (correct - confidence)| / sum w; nan for a row with no detection drawn."""
    if confidence.size == 0:
        return np.full(det_weights.shape[0], np.nan)
    which = np.minimum((confidence * bins).astype(np.int64), bins - 1)
    onehot = np.zeros((confidence.size, bins))
    onehot[np.arange(confidence.size), which] = 1.0
    gap = det_weights @ (onehot * (correct.astype(np.float64) - confidence)[:, None])
    mass = det_weights.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(mass > 0, np.abs(gap).sum(axis=1) / np.where(mass > 0, mass, 1.0), np.nan)
