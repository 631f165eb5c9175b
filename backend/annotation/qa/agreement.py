"""Inter-annotator agreement: Cohen's kappa, Fleiss' kappa, Krippendorff's alpha (pure numpy).

All three are "observed agreement corrected for chance". When chance agreement is already
perfect (every rating is one category, or one value) the coefficient is 0/0: these functions
return NaN there (scikit-learn and statsmodels also give NaN, with a warning; the
``krippendorff`` package raises). The tests compare every function with those references.

- :func:`cohen_kappa`: two raters, nominal labels, the same items.
- :func:`fleiss_kappa`: many raters, an items x categories count table with the same number of
  ratings per item (:func:`category_counts` builds it from an items x raters label table).
- :func:`krippendorff_alpha`: any number of raters, missing ratings allowed (NaN), ``nominal``
  (classes; :func:`encode_nominal` turns names into codes) or ``interval`` (box sizes in metres).
  Computed from per-unit sums, never a values x values coincidence matrix, so interval data with
  thousands of distinct values stays O(raters x units).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt

from backend.errors import QualityError

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


def _codes(values: Sequence[Hashable] | npt.ArrayLike) -> tuple[I64, int]:
    """Integer codes 0..V-1 of hashable labels (ints or strings), and V."""
    arr = np.asarray(values)
    if arr.dtype == object:  # mixed or exotic labels: sort by their text, stably
        arr = arr.astype(str)
    uniques, inverse = np.unique(arr.reshape(-1), return_inverse=True)
    return inverse.astype(np.int64).reshape(arr.shape), int(uniques.shape[0])


def cohen_kappa(
    rater_a: Sequence[Hashable] | npt.ArrayLike, rater_b: Sequence[Hashable] | npt.ArrayLike
) -> float:
    """Cohen's kappa of two raters' nominal labels on the same items (aligned sequences).

    ``(p_o - p_e) / (1 - p_e)`` with ``p_o`` the share of items labelled alike and ``p_e`` the
    agreement expected from each rater's own label frequencies. NaN when ``p_e == 1`` or there
    are no items.
    """
    a, b = np.asarray(rater_a), np.asarray(rater_b)
    if a.shape != b.shape or a.ndim != 1:
        raise QualityError(f"cohen kappa: rater labels of shapes {a.shape} and {b.shape} differ")
    n = a.shape[0]
    if n == 0:
        return float("nan")
    codes, v = _codes(np.concatenate([a, b]))
    ca, cb = codes[:n], codes[n:]
    confusion = np.bincount(ca * v + cb, minlength=v * v).reshape(v, v)
    p_o = np.trace(confusion) / n
    p_e = float(confusion.sum(axis=1) @ confusion.sum(axis=0)) / (n * n)
    return float((p_o - p_e) / (1.0 - p_e)) if p_e < 1.0 else float("nan")


def category_counts(
    ratings: Sequence[Sequence[Hashable]] | npt.ArrayLike,
) -> tuple[I64, tuple[Hashable, ...]]:
    """Items x categories counts from an items x raters table of labels (every cell rated).

    Returns the counts ``(N, C)`` and the categories in column order (sorted).
    """
    arr = np.asarray(ratings)
    if arr.ndim != 2:
        raise QualityError(f"category counts: expected an items x raters table, got {arr.shape}")
    labels = arr.astype(str) if arr.dtype == object else arr
    uniques, inverse = np.unique(labels.reshape(-1), return_inverse=True)
    n_items, c = arr.shape[0], uniques.shape[0]
    item = np.repeat(np.arange(n_items), arr.shape[1])
    counts = np.bincount(item * c + inverse.reshape(-1), minlength=n_items * c).reshape(n_items, c)
    return counts.astype(np.int64), tuple(uniques.tolist())


def fleiss_kappa(counts: npt.ArrayLike) -> float:
    """Fleiss' kappa of an items x categories table of rating counts (each row: how many raters
    put the item in each category; every row must sum to the same n >= 2).

    ``(P_bar - P_e) / (1 - P_e)``: ``P_bar`` the mean share of agreeing rater pairs per item,
    ``P_e`` the sum of squared category shares. NaN when ``P_e == 1`` or there are no items.
    """
    table = np.asarray(counts, dtype=np.float64)
    if table.ndim != 2:
        raise QualityError(f"fleiss kappa: expected an items x categories table, got {table.shape}")
    if table.shape[0] == 0:
        return float("nan")
    if (table < 0).any() or not np.isfinite(table).all():
        raise QualityError("fleiss kappa: counts must be finite and >= 0")
    per_item = table.sum(axis=1)
    n = per_item[0]
    if n < 2 or not np.all(per_item == n):
        raise QualityError(
            f"fleiss kappa: every item needs the same number (>= 2) of ratings, got row sums "
            f"{sorted(set(per_item.tolist()))[:5]}"
        )
    p_item = ((table * table).sum(axis=1) - n) / (n * (n - 1.0))
    p_bar = float(p_item.mean())
    share = table.sum(axis=0) / table.sum()
    p_e = float((share * share).sum())
    return (p_bar - p_e) / (1.0 - p_e) if p_e < 1.0 else float("nan")


def encode_nominal(
    ratings: Sequence[Sequence[Hashable | None]],
) -> tuple[F64, tuple[Hashable, ...]]:
    """A raters x units table of labels (``None`` = not rated) as float codes with NaN for
    missing, ready for :func:`krippendorff_alpha` at the nominal level; also the categories."""
    rows = [list(r) for r in ratings]
    width = {len(r) for r in rows}
    if len(width) > 1:
        raise QualityError(f"encode nominal: rows of different lengths {sorted(width)}")
    present = sorted({str(v) for r in rows for v in r if v is not None})
    index = {name: i for i, name in enumerate(present)}
    out = np.full((len(rows), width.pop() if width else 0), np.nan, dtype=np.float64)
    for i, r in enumerate(rows):  # over raters and units, not points
        for j, v in enumerate(r):
            if v is not None:
                out[i, j] = index[str(v)]
    return out, tuple(present)


def krippendorff_alpha(
    data: npt.ArrayLike, level: Literal["nominal", "interval"] = "nominal"
) -> float:
    """Krippendorff's alpha of a raters x units table (float, NaN = missing).

    ``1 - D_o / D_e`` over the pairable values (units with at least two ratings): ``D_o`` the
    observed disagreement within units, ``D_e`` the disagreement expected among all pairable
    values; ``nominal`` counts unequal pairs, ``interval`` squared differences (units of the
    data, e.g. metres). NaN when ``D_e == 0`` (one value throughout) or nothing is pairable.
    """
    arr = np.asarray(data, dtype=np.float64)
    if arr.ndim != 2:
        raise QualityError(f"krippendorff alpha: expected a raters x units table, got {arr.shape}")
    if level not in ("nominal", "interval"):
        raise QualityError(f"krippendorff alpha: level {level!r} is not 'nominal' or 'interval'")
    if np.isinf(arr).any():
        raise QualityError("krippendorff alpha: infinite ratings (use NaN for missing)")
    present = ~np.isnan(arr)
    m_u = present.sum(axis=0)
    pairable = m_u >= 2
    arr, present, m_u = arr[:, pairable], present[:, pairable], m_u[pairable].astype(np.float64)
    n = float(m_u.sum())
    if n < 2:
        return float("nan")
    if level == "nominal":
        rater_codes, v = _codes(np.where(present, arr, -np.inf))
        unit = np.broadcast_to(np.arange(arr.shape[1]), arr.shape)
        n_uc = np.bincount((unit * v + rater_codes)[present], minlength=arr.shape[1] * v).reshape(
            arr.shape[1], v
        )
        d_o = float(((m_u * m_u - (n_uc * n_uc).sum(axis=1)) / (m_u - 1.0)).sum()) / n
        n_c = n_uc.sum(axis=0).astype(np.float64)
        d_e = (n * n - float((n_c * n_c).sum())) / (n * (n - 1.0))
    else:
        # sum over ordered pairs in a unit of (v_i - v_j)^2 = 2 m_u * (squared deviations from
        # the unit mean): stable where raw sums of squares would cancel
        filled = np.where(present, arr, 0.0)
        unit_mean = filled.sum(axis=0) / m_u
        ss_unit = (np.where(present, arr - unit_mean, 0.0) ** 2).sum(axis=0)
        d_o = float((2.0 * m_u * ss_unit / (m_u - 1.0)).sum()) / n
        grand = float(filled.sum()) / n
        ss_all = float((np.where(present, arr - grand, 0.0) ** 2).sum())
        d_e = 2.0 * n * ss_all / (n * (n - 1.0))
    return 1.0 - d_o / d_e if d_e > 0.0 else float("nan")
