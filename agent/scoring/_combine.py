"""Combine tail probabilities (p-values) across scores, detections and frame-level signals.

Pure numpy and ``math``, no I/O. Every function takes and returns probabilities in ``[0, 1]``;
smaller = more surprising under the in-distribution hypothesis.

Policies across the scores of one detection (``policy``):

* ``"minp"`` -- Bonferroni-corrected minimum, ``min(1, S * min_i p_i)``. Valid under any
  dependence between the S scores; the scores are strongly correlated (entropy and max-softmax
  are near-monotone in each other), so this is the default.
* ``"fisher"`` -- Fisher's method, ``X = -2 sum ln p_i ~ chi2(2S)`` if the p_i are independent
  and uniform. More powerful when several moderate signals agree, but anti-conservative for
  correlated scores: use it knowing that its p-value is then too small.

Across the detections of one frame (``over_detections``):

* ``"simes"`` -- Simes' test, ``min_i n * p_(i) / i`` over sorted p. Valid under independence and
  positive dependence (PRDS); never larger than Bonferroni.
* ``"bonferroni"`` -- ``min(1, n * min_i p_i)``; valid under any dependence.

The detections' p-value and the frame-level signals' p-values are then combined with ``policy``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from agent.errors import ScoringError

Policy = Literal["minp", "fisher"]
MultipleTesting = Literal["simes", "bonferroni"]


def bonferroni_min(p: NDArray[np.float64], axis: int = -1) -> NDArray[np.float64]:
    """``min(1, n * min p)`` along ``axis`` (n = its length)."""
    n = p.shape[axis]
    return np.asarray(np.minimum(1.0, n * np.min(p, axis=axis)), dtype=np.float64)


def chi2_sf_even(x: float, dof: int) -> float:
    """Survival function of a chi-square with even ``dof`` at ``x`` (closed form, no scipy).

    ``P(chi2_{2m} >= x) = exp(-x/2) * sum_{j<m} (x/2)^j / j!``, summed in log space so that a
    large ``x`` does not overflow.
    """
    if dof <= 0 or dof % 2:
        raise ScoringError(f"chi-square dof must be a positive even number, got {dof}")
    if x <= 0.0:
        return 1.0
    if math.isinf(x):
        return 0.0
    half = x / 2.0
    log_terms = [j * math.log(half) - math.lgamma(j + 1) for j in range(dof // 2)]
    top = max(log_terms)
    log_sum = top + math.log(sum(math.exp(t - top) for t in log_terms))
    return min(1.0, math.exp(log_sum - half))


def fisher(p: Sequence[float] | NDArray[np.float64]) -> float:
    """Fisher's combined p-value of independent p-values (see module docstring)."""
    arr = np.asarray(p, dtype=np.float64)
    if arr.size == 0:
        return 1.0
    with np.errstate(divide="ignore"):
        stat = float(-2.0 * np.sum(np.log(arr)))
    return chi2_sf_even(stat, 2 * arr.size)


def combine(p: Sequence[float] | NDArray[np.float64], policy: Policy) -> float:
    """One p-value from several, by ``policy`` (``"minp"`` or ``"fisher"``)."""
    arr = np.asarray(p, dtype=np.float64)
    if arr.size == 0:
        return 1.0
    if policy == "minp":
        return float(min(1.0, arr.size * float(arr.min())))
    if policy == "fisher":
        return fisher(arr)
    raise ScoringError(f"unknown combination policy {policy!r}; use 'minp' or 'fisher'")


def combine_rows(p: NDArray[np.float64], policy: Policy) -> NDArray[np.float64]:
    """``combine`` applied to each row of ``p`` ``[n, S]`` -> ``[n]``."""
    if policy == "minp":
        return bonferroni_min(p, axis=1) if p.shape[1] else np.ones(p.shape[0])
    return np.array([combine(row, policy) for row in p], dtype=np.float64)


def simes(p: NDArray[np.float64]) -> float:
    """Simes' global p-value ``min_i n * p_(i) / i`` of ``n`` p-values (1 for none)."""
    n = p.size
    if n == 0:
        return 1.0
    ordered = np.sort(p)
    return float(min(1.0, np.min(n * ordered / np.arange(1, n + 1))))


def over_detections(p: NDArray[np.float64], method: MultipleTesting) -> float:
    """A frame p-value from per-detection p-values with a multiple-testing correction."""
    if p.size == 0:
        return 1.0
    if method == "simes":
        return simes(p)
    if method == "bonferroni":
        return float(min(1.0, p.size * float(p.min())))
    raise ScoringError(f"unknown multiple-testing method {method!r}; use 'simes' or 'bonferroni'")


def poisson_upper_tail(count: int, rate: float) -> float:
    """``P(X >= count)`` for ``X ~ Poisson(rate)``; ``rate`` in events per frame.

    Computed as ``1 - P(X <= count-1)`` with log-space terms; 1 for ``count <= 0``.
    """
    if count <= 0:
        return 1.0
    if rate <= 0.0:
        return 0.0
    log_rate = math.log(rate)

    def term(i: int) -> float:
        return math.exp(i * log_rate - rate - math.lgamma(i + 1))

    if count <= rate:
        # the lower part is the small one: complement is accurate here
        return max(0.0, min(1.0, 1.0 - sum(term(i) for i in range(count))))
    # past the mode the terms fall at least geometrically: sum the upper tail directly so a
    # tail far below 1e-16 keeps its value instead of cancelling to 0
    total, i = 0.0, count
    while True:
        t = term(i)
        total += t
        if t <= 1e-17 * total or t == 0.0:
            return min(1.0, total)
        i += 1
