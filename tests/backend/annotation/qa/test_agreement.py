"""Kappa and alpha against scikit-learn, statsmodels and the ``krippendorff`` package on the same
inputs: random seeded tables and the edge cases (perfect agreement, one category, missing)."""

from __future__ import annotations

import math
import warnings

import krippendorff
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from backend.annotation.qa.agreement import (
    category_counts,
    cohen_kappa,
    encode_nominal,
    fleiss_kappa,
    krippendorff_alpha,
)
from backend.errors import QualityError

CLASSES = np.array(["car", "truck", "pedestrian", "cyclist", "debris"])


def _noisy_raters(
    rng: np.random.Generator, n_items: int, n_raters: int, error: float, k: int
) -> np.ndarray:
    """Items x raters labels: a true class per item, each rater wrong with probability error."""
    truth = rng.integers(0, k, n_items)
    wrong = rng.random((n_items, n_raters)) < error
    return np.where(wrong, rng.integers(0, k, (n_items, n_raters)), truth[:, None])


@pytest.mark.parametrize("seed", range(6))
def test_cohen_kappa_matches_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = _noisy_raters(rng, int(rng.integers(5, 300)), 2, float(rng.uniform(0, 0.9)), 5)
    a, b = CLASSES[labels[:, 0]], CLASSES[labels[:, 1]]
    assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)
    assert cohen_kappa(labels[:, 0], labels[:, 1]) == pytest.approx(
        cohen_kappa_score(labels[:, 0], labels[:, 1]), abs=1e-12
    )


def test_cohen_kappa_edge_cases() -> None:
    same = ["car", "truck", "car", "deer"]
    assert cohen_kappa(same, same) == 1.0 == cohen_kappa_score(same, same)
    opposite = (["car", "truck"] * 3, ["truck", "car"] * 3)
    assert cohen_kappa(*opposite) == pytest.approx(cohen_kappa_score(*opposite))  # -1
    one = ["car"] * 5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns that it saw a single label
        assert math.isnan(cohen_kappa_score(one, one))
    assert math.isnan(cohen_kappa(one, one))
    assert math.isnan(cohen_kappa([], []))
    with pytest.raises(QualityError, match="differ"):
        cohen_kappa(["car"], ["car", "car"])


@pytest.mark.parametrize("seed", range(6))
def test_fleiss_kappa_matches_statsmodels(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    ratings = _noisy_raters(
        rng, int(rng.integers(3, 200)), int(rng.integers(2, 8)), float(rng.uniform(0, 0.9)), 4
    )
    counts, cats = category_counts(CLASSES[ratings])
    sm_counts, sm_cats = aggregate_raters(ratings)
    # same table (up to the category order: ours is sorted by name, theirs by code)
    assert counts.sum() == sm_counts.sum() and len(cats) == len(sm_cats)
    assert fleiss_kappa(counts) == pytest.approx(
        sm_fleiss_kappa(sm_counts, method="fleiss"), abs=1e-12
    )


def test_fleiss_kappa_edge_cases() -> None:
    perfect = np.array([[3, 0, 0], [0, 3, 0], [0, 0, 3]])
    assert fleiss_kappa(perfect) == pytest.approx(1.0) == sm_fleiss_kappa(perfect)
    one_category = np.array([[4, 0], [4, 0]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels divides 0 by 0
        assert math.isnan(sm_fleiss_kappa(one_category))
    assert math.isnan(fleiss_kappa(one_category))
    with pytest.raises(QualityError, match="same number"):
        fleiss_kappa(np.array([[2, 1], [1, 1]]))


def _with_missing(rng: np.random.Generator, table: np.ndarray, share: float) -> np.ndarray:
    out = table.astype(np.float64)
    out[rng.random(out.shape) < share] = np.nan
    return out


@pytest.mark.parametrize("seed", range(8))
def test_krippendorff_alpha_nominal_matches_package(seed: int) -> None:
    rng = np.random.default_rng(200 + seed)
    ratings = _noisy_raters(
        rng, int(rng.integers(5, 150)), int(rng.integers(2, 7)), float(rng.uniform(0, 0.8)), 5
    )
    data = _with_missing(rng, ratings.T, float(rng.uniform(0, 0.4)))  # raters x units
    want = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    assert krippendorff_alpha(data, "nominal") == pytest.approx(want, abs=1e-12)


@pytest.mark.parametrize("seed", range(8))
def test_krippendorff_alpha_interval_matches_package(seed: int) -> None:
    """Box lengths (metres): a true length per object plus each rater's noise, some missing."""
    rng = np.random.default_rng(300 + seed)
    n_units, n_raters = int(rng.integers(5, 120)), int(rng.integers(2, 6))
    truth = rng.uniform(0.5, 12.0, n_units)
    noise = rng.normal(0.0, float(rng.uniform(0.01, 2.0)), (n_raters, n_units))
    data = _with_missing(rng, truth[None, :] + noise, float(rng.uniform(0, 0.4)))
    want = krippendorff.alpha(reliability_data=data, level_of_measurement="interval")
    assert krippendorff_alpha(data, "interval") == pytest.approx(want, abs=1e-10)


def test_krippendorff_alpha_edge_cases() -> None:
    # the package's own docstring example (Krippendorff 2011), nominal 0.691358, interval 0.810845
    nan = np.nan
    example = np.array(
        [
            [nan, nan, nan, nan, nan, 3, 4, 1, 2, 1, 1, 3, 3, nan, 3],
            [1, nan, 2, 1, 3, 3, 4, 3, nan, nan, nan, nan, nan, nan, nan],
            [nan, nan, 2, 1, 3, 4, 4, nan, 2, 1, 1, 3, 3, nan, 4],
        ]
    )
    assert krippendorff_alpha(example, "nominal") == pytest.approx(0.691358, abs=1e-6)
    assert krippendorff_alpha(example, "interval") == pytest.approx(0.810845, abs=1e-6)
    perfect = np.array([[1.0, 2.0, 3.0, nan], [1.0, 2.0, 3.0, 2.0]])
    assert krippendorff_alpha(perfect, "nominal") == pytest.approx(1.0)
    assert krippendorff.alpha(
        reliability_data=perfect, level_of_measurement="nominal"
    ) == pytest.approx(1.0)
    one_value = np.array([[2.0, 2.0, nan], [2.0, 2.0, 2.0]])
    with pytest.raises(ValueError, match="more than one value"):  # the package refuses
        krippendorff.alpha(reliability_data=one_value, level_of_measurement="nominal")
    assert math.isnan(krippendorff_alpha(one_value, "nominal"))
    assert math.isnan(krippendorff_alpha(np.array([[1.0, nan], [nan, 2.0]]), "interval"))
    with pytest.raises(QualityError, match="level"):
        krippendorff_alpha(perfect, "ordinal")  # type: ignore[arg-type]


def test_encode_nominal_feeds_alpha() -> None:
    ratings: list[list[str | None]] = [
        ["car", "truck", None, "deer"],
        ["car", "truck", "car", None],
        ["car", "car", "car", "deer"],
    ]
    data, cats = encode_nominal(ratings)
    assert cats == ("car", "deer", "truck")
    assert np.isnan(data[0, 2]) and data[2, 3] == 1.0
    want = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    assert krippendorff_alpha(data) == pytest.approx(want, abs=1e-12)
