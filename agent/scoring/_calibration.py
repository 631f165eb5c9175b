"""Map raw scores to tail probabilities under the in-distribution (ID) score distribution.

Pure numpy, no I/O. A raw score ``s`` (higher = more anomalous) becomes
``p = P(score_ID >= s)``, estimated from ``Q`` stored quantiles of that score on ID validation
data: ``quantiles[j]`` is the empirical quantile at level ``j / (Q - 1)``. Between two stored
quantiles the CDF is interpolated linearly; the result is clamped to ``[1 / (n + 1), 1]`` where
``n`` is the number of validation samples (the smallest p-value ``n`` samples can support, as in a
conformal p-value). On ties (several stored quantiles equal to ``s``) the lowest level is used,
which gives the larger, conservative tail.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def quantile_levels(n_quantiles: int) -> NDArray[np.float64]:
    """The CDF levels ``0, 1/(Q-1), ..., 1`` at which quantiles are stored (dimensionless)."""
    return np.linspace(0.0, 1.0, n_quantiles, dtype=np.float64)


def fit_quantiles(samples: NDArray[np.floating], n_quantiles: int) -> NDArray[np.float64]:
    """``n_quantiles`` empirical quantiles (linear interpolation) of finite ``samples``.

    A +inf sample (an energy with no finite class) stands in as the largest float during the
    interpolation (inf - inf has no value) and comes back as +inf, so the top quantiles are +inf
    and only a score of +inf reaches them.
    """
    big = np.finfo(np.float64).max
    values = np.minimum(np.asarray(samples, dtype=np.float64).ravel(), big)
    q = np.quantile(values, quantile_levels(n_quantiles), method="linear")
    return np.where(q == big, np.inf, q).astype(np.float64)


def tail_probability(
    scores: NDArray[np.floating], quantiles: NDArray[np.float64], n_samples: int
) -> NDArray[np.float64]:
    """``P(score_ID >= s)`` for each raw score ``s``, clamped to ``[1/(n_samples+1), 1]``.

    Monotone non-increasing in ``s``. ``quantiles`` must be non-decreasing, shape ``[Q]``, Q >= 2.
    """
    s = np.asarray(scores, dtype=np.float64)
    q = quantiles
    n_q = q.shape[0]
    levels = quantile_levels(n_q)
    # first stored quantile >= s: s lies in (q[j-1], q[j]]
    j = np.searchsorted(q, s, side="left")
    cdf = np.empty_like(s)
    below = j == 0
    above = j == n_q
    mid = ~(below | above)
    cdf[below] = 0.0
    cdf[above] = 1.0
    jm = j[mid]
    lo, hi = q[jm - 1], q[jm]
    width = hi - lo
    # width > 0 here: q[jm-1] < s <= q[jm]; infinite bounds give frac 0 (the lower level)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(np.isfinite(width) & (width > 0), (s[mid] - lo) / width, 0.0)
    frac = np.clip(frac, 0.0, 1.0)
    cdf[mid] = levels[jm - 1] + frac * (levels[jm] - levels[jm - 1])
    floor = 1.0 / (n_samples + 1)
    return np.clip(1.0 - cdf, floor, 1.0)


def surprise(tail: NDArray[np.float64]) -> NDArray[np.float64]:
    """``-log10`` of a tail probability: 0 for a typical score, 3 for a 1-in-1000 one (bits of 10)."""
    return -np.log10(tail)
