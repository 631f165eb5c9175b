"""p-value combination: closed forms checked against definitions, validity checked by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agent.errors import ScoringError
from agent.scoring._combine import (
    chi2_sf_even,
    combine,
    combine_rows,
    fisher,
    over_detections,
    poisson_upper_tail,
    simes,
)


def test_chi2_sf_matches_closed_forms() -> None:
    for x in (0.1, 1.0, 7.5, 40.0):
        assert chi2_sf_even(x, 2) == pytest.approx(math.exp(-x / 2), rel=1e-12)
        assert chi2_sf_even(x, 4) == pytest.approx(math.exp(-x / 2) * (1 + x / 2), rel=1e-12)
    assert chi2_sf_even(0.0, 6) == 1.0
    assert chi2_sf_even(1000.0, 12) > 0.0  # log-space sum: no overflow, no underflow to 0
    with pytest.raises(ScoringError, match="dof"):
        chi2_sf_even(1.0, 3)


def test_fisher_of_one_p_value_is_that_p_value() -> None:
    assert fisher([0.03]) == pytest.approx(0.03, rel=1e-12)
    assert fisher([1.0, 1.0]) == 1.0


@pytest.mark.parametrize("policy", ["minp", "fisher"])
def test_combinations_hold_their_level_under_independent_uniform_nulls(policy: str) -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(size=(20_000, 4))
    combined = combine_rows(p, policy)  # type: ignore[arg-type]
    rate = float((combined <= 0.05).mean())
    assert rate <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 20_000)
    assert rate > (0.03 if policy == "fisher" else 0.04)  # Fisher is exact, Bonferroni near it


def test_minp_is_bonferroni_and_rows_agree_with_scalars() -> None:
    p = np.array([[0.01, 0.5, 0.9], [0.4, 0.4, 0.4]])
    np.testing.assert_allclose(combine_rows(p, "minp"), [0.03, 1.0])
    np.testing.assert_allclose(combine_rows(p, "fisher"), [fisher(p[0]), fisher(p[1])])
    assert combine([0.01, 0.5, 0.9], "minp") == pytest.approx(0.03)
    with pytest.raises(ScoringError, match="unknown combination policy 'max'"):
        combine([0.5], "max")  # type: ignore[arg-type]


def test_simes_by_definition_and_never_above_bonferroni() -> None:
    p = np.array([0.04, 0.01, 0.03, 0.8])
    assert simes(p) == pytest.approx(min(4 * 0.01 / 1, 4 * 0.03 / 2, 4 * 0.04 / 3, 4 * 0.8 / 4))
    rng = np.random.default_rng(1)
    for _ in range(200):
        q = rng.uniform(size=rng.integers(1, 20))
        assert over_detections(q, "simes") <= over_detections(q, "bonferroni") + 1e-15
    assert over_detections(np.array([]), "simes") == 1.0


def test_simes_holds_its_level_over_independent_detections() -> None:
    rng = np.random.default_rng(2)
    frames = rng.uniform(size=(20_000, 10))
    rate = np.mean([simes(f) <= 0.05 for f in frames])
    assert abs(rate - 0.05) < 3 * math.sqrt(0.05 * 0.95 / 20_000)  # Simes is exact here


def test_poisson_tail_matches_a_direct_sum() -> None:
    for rate in (0.05, 1.0, 4.0):
        for count in range(0, 12):
            direct = sum(
                math.exp(-rate) * rate**i / math.factorial(i) for i in range(count, count + 80)
            )
            assert poisson_upper_tail(count, rate) == pytest.approx(direct, rel=1e-9, abs=1e-300)
    assert 0.0 < poisson_upper_tail(40, 0.01) < 1e-100  # far tail keeps its value
    assert poisson_upper_tail(3, 0.0) == 0.0
