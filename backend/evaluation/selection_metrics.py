"""Frame-selection metrics, pure numpy: AUROC, recall at an upload budget, lift.

A *policy* gives every frame a score (higher = more worth uploading); a *budget* ``b`` in
``(0, 1]`` is the share of frames that may be uploaded. Selecting at budget ``b`` keeps the
``k = budget_count(n, b)`` highest-scoring of ``n`` frames. Ties are broken uniformly at random,
and every function here returns the **expected value over that tie-break**, so a policy that
gives many frames the same score (e.g. a p-value floor) is neither helped nor hurt by the order
the frames happen to be in:

* ``selection_weights`` -- per frame, the probability of being among the ``k`` kept (1 above the
  cut, ``(k - n_above) / n_tied`` for the frames tied at the cut, 0 below);
* ``recall_at_budget`` -- expected share of the positive frames kept;
* ``lift`` -- ``recall / budget``: how many times better than random selection (whose expected
  recall is ``k / n``, about the budget);
* ``auroc`` -- probability that a random positive scores above a random negative, ties counting
  one half (the Mann-Whitney U statistic from mid-ranks);
* ``threshold_rule`` / ``recall_at_threshold`` -- the same cut as a score threshold fixed on one
  set of frames (a *reference* drive) and applied to positives drawn elsewhere (an *enriched*
  drive with more rare frames): the stratified estimate used when positives are too scarce;
* ``wilson_interval`` -- the Wilson score interval of a proportion (e.g. event recall: captured
  events out of eligible ones), which stays inside [0, 1] and is honest near 0 and 1;
* ``EventRule`` / ``event_capture`` -- a rare-object **event** is one rare actor's track; a frame
  shows it *well observed* when enough LiDAR points fall on it; the event is *eligible* when some
  frame shows it well observed and *captured* when one of those frames was uploaded.

Scores may be ``-inf`` (a frame with nothing to score ranks last); NaN is refused.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from backend.errors import EvaluationError

F64 = npt.NDArray[np.float64]


def _scores(values: npt.ArrayLike, name: str) -> F64:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise EvaluationError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if np.isnan(arr).any():
        raise EvaluationError(f"{name} holds NaN at index {int(np.flatnonzero(np.isnan(arr))[0])}")
    return arr


def _labels(values: npt.ArrayLike, n: int) -> npt.NDArray[np.bool_]:
    arr = np.asarray(values)
    if arr.shape != (n,):
        raise EvaluationError(f"labels must have shape ({n},) like the scores, got {arr.shape}")
    return arr.astype(bool)


def _budget(budget: float) -> float:
    if not 0.0 < budget <= 1.0 or math.isnan(budget):
        raise EvaluationError(f"budget must be in (0, 1], got {budget}")
    return float(budget)


def budget_count(n: int, budget: float) -> int:
    """Frames kept out of ``n`` at ``budget``: ``ceil(budget * n)`` (at least 1 when n > 0).

    The product is rounded to 9 decimals first so that ``0.01 * 300`` keeps 3, not 4.
    """
    if n < 0:
        raise EvaluationError(f"frame count must be >= 0, got {n}")
    b = _budget(budget)
    return min(n, max(1 if n else 0, math.ceil(round(b * n, 9))))


def selection_weights(scores: npt.ArrayLike, k: int) -> F64:
    """Probability that each frame is among the ``k`` highest scores (random tie-break)."""
    s = _scores(scores, "scores")
    n = s.size
    if not 0 <= k <= n:
        raise EvaluationError(f"k must be in [0, {n}], got {k}")
    weights = np.zeros(n, dtype=np.float64)
    if k == 0:
        return weights
    cut = np.partition(s, n - k)[n - k]  # the k-th largest score
    above = s > cut
    tied = s == cut
    weights[above] = 1.0
    weights[tied] = (k - int(above.sum())) / int(tied.sum())
    return weights


def recall_at_budget(scores: npt.ArrayLike, labels: npt.ArrayLike, budget: float) -> float:
    """Expected share of the positive frames among the top ``budget`` of frames; NaN when
    there are no positives."""
    s = _scores(scores, "scores")
    y = _labels(labels, s.size)
    positives = int(y.sum())
    if positives == 0:
        return math.nan
    w = selection_weights(s, budget_count(s.size, budget))
    return float(w[y].sum() / positives)


def recall_curve(scores: npt.ArrayLike, labels: npt.ArrayLike, budgets: Sequence[float]) -> F64:
    """``recall_at_budget`` at each of ``budgets``."""
    return np.array([recall_at_budget(scores, labels, b) for b in budgets], dtype=np.float64)


def lift(recall: float, budget: float) -> float:
    """``recall / budget``: 1 is what random selection gets, ``1 / budget`` the maximum."""
    return recall / _budget(budget)


def random_expected_recall(n: int, budget: float) -> float:
    """Expected recall of uniformly random selection of ``budget_count(n, budget)`` frames:
    every frame is kept with probability ``k / n`` whatever the positives are."""
    if n <= 0:
        raise EvaluationError(f"frame count must be > 0, got {n}")
    return budget_count(n, budget) / n


def auroc_two_sample(positives: npt.ArrayLike, negatives: npt.ArrayLike) -> float:
    """``P(pos > neg) + P(pos == neg) / 2`` over all pairs; NaN when either set is empty."""
    pos = _scores(positives, "positives")
    neg = _scores(negatives, "negatives")
    if pos.size == 0 or neg.size == 0:
        return math.nan
    both = np.concatenate([pos, neg])
    ranks = _midranks(both)
    u = ranks[: pos.size].sum() - pos.size * (pos.size + 1) / 2.0
    return float(u / (pos.size * neg.size))


def auroc(scores: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """AUROC of ``scores`` for the boolean ``labels`` (ties count one half); NaN when one class
    is absent."""
    s = _scores(scores, "scores")
    y = _labels(labels, s.size)
    return auroc_two_sample(s[y], s[~y])


def _midranks(values: F64) -> F64:
    """1-based ranks with tied values sharing the mean of their ranks."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    # boundaries of runs of equal values in sorted order
    starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
    ends = np.concatenate([starts[1:], [ordered.size]])
    run_rank = (starts + 1 + ends) / 2.0  # mean of ranks starts+1 .. ends
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = np.repeat(run_rank, ends - starts)
    return ranks


@dataclass(frozen=True)
class ThresholdRule:
    """Keep a frame scoring above ``threshold``; one scoring exactly ``threshold`` with
    probability ``tie_keep``. Made by ``threshold_rule`` to keep ``budget`` of a reference set."""

    threshold: float
    tie_keep: float


def threshold_rule(reference: npt.ArrayLike, budget: float) -> ThresholdRule:
    """The rule that keeps exactly the top ``budget`` (in expectation) of ``reference`` scores."""
    s = _scores(reference, "reference")
    if s.size == 0:
        raise EvaluationError("reference scores are empty: no threshold can be fixed")
    k = budget_count(s.size, budget)
    cut = float(np.partition(s, s.size - k)[s.size - k])
    above = int((s > cut).sum())
    tied = int((s == cut).sum())
    return ThresholdRule(cut, (k - above) / tied)


def recall_at_threshold(positives: npt.ArrayLike, rule: ThresholdRule) -> float:
    """Expected share of ``positives`` kept by ``rule``; NaN when there are none."""
    pos = _scores(positives, "positives")
    if pos.size == 0:
        return math.nan
    kept = (pos > rule.threshold).sum() + rule.tie_keep * (pos == rule.threshold).sum()
    return float(kept / pos.size)


@dataclass(frozen=True)
class Spread:
    """Summary of one metric over seeds (NaN entries, e.g. seeds without positives, skipped)."""

    mean: float
    std: float
    median: float
    min: float
    max: float
    n: int

    def as_dict(self) -> dict[str, float | int]:
        """Plain values for JSON (NaN when no seed had a value)."""
        return {
            "mean": self.mean,
            "std": self.std,
            "median": self.median,
            "min": self.min,
            "max": self.max,
            "n": self.n,
        }


def spread(values: Sequence[float] | npt.ArrayLike) -> Spread:
    """Mean, sample standard deviation (ddof 1; 0 for one value), median, min and max."""
    arr = np.asarray(values, dtype=np.float64).ravel()
    arr = arr[~np.isnan(arr)]
    if arr.size == 0:
        nan = math.nan
        return Spread(nan, nan, nan, nan, nan, 0)
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return Spread(
        float(arr.mean()),
        std,
        float(np.median(arr)),
        float(arr.min()),
        float(arr.max()),
        int(arr.size),
    )


def wilson_interval(successes: float, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval ``(low, high)`` of a proportion ``successes / trials``.

    ``successes`` may be an expected (non-integer) count, e.g. summed capture probabilities; the
    interval then treats it as the observed count. NaNs for ``trials == 0``.
    """
    if trials < 0 or not 0.0 <= successes <= trials:
        raise EvaluationError(f"need 0 <= successes <= trials, got {successes} of {trials}")
    if not 0.0 < confidence < 1.0:
        raise EvaluationError(f"confidence must be in (0, 1), got {confidence}")
    if trials == 0:
        return math.nan, math.nan
    from statistics import NormalDist

    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    p = successes / trials
    denom = 1.0 + z * z / trials
    centre = (p + z * z / (2.0 * trials)) / denom
    half = z * math.sqrt(p * (1.0 - p) / trials + z * z / (4.0 * trials * trials)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class EventRule:
    """When a frame shows a rare object well observed: at least ``min_points`` LiDAR points on
    it, or at least ``near_points`` within ``near_range_m`` metres of the sensor."""

    min_points: int = 50
    near_points: int = 10
    near_range_m: float = 30.0

    def well_observed(self, points: npt.ArrayLike, range_m: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Per observation (one object in one frame; points on it, range in metres)."""
        n = np.asarray(points)
        r = np.asarray(range_m, dtype=np.float64)
        good: npt.NDArray[np.bool_] = (n >= self.min_points) | (
            (n >= self.near_points) & (r <= self.near_range_m)
        )
        return good


@dataclass(frozen=True)
class EventCapture:
    """Per rare track (sorted by id): whether it is eligible and whether it was captured."""

    tracks: npt.NDArray[np.int64]
    eligible: npt.NDArray[np.bool_]
    captured: npt.NDArray[np.bool_]

    @property
    def recall(self) -> float:
        """Captured share of the eligible events (NaN when none is eligible)."""
        n = int(self.eligible.sum())
        return float(self.captured.sum()) / n if n else math.nan


def event_capture(
    track: npt.ArrayLike,
    points: npt.ArrayLike,
    range_m: npt.ArrayLike,
    uploaded: npt.ArrayLike,
    rule: EventRule,
) -> EventCapture:
    """Events from observations: one row per rare object per frame, with its track id, the
    points on it, its range (metres) and whether that frame was uploaded."""
    ids = np.asarray(track, dtype=np.int64)
    sent = np.asarray(uploaded, dtype=bool)
    if not ids.shape == sent.shape == np.shape(points) == np.shape(range_m):
        raise EvaluationError(
            f"event rows disagree: track {ids.shape}, points {np.shape(points)}, "
            f"range {np.shape(range_m)}, uploaded {sent.shape}"
        )
    good = rule.well_observed(points, range_m)
    tracks, inverse = np.unique(ids, return_inverse=True)
    eligible = np.bincount(inverse, weights=good, minlength=tracks.size) > 0
    captured = np.bincount(inverse, weights=good & sent, minlength=tracks.size) > 0
    return EventCapture(tracks, eligible, captured)
