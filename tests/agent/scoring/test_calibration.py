"""Raw score -> tail probability: monotone, clamped, faithful to the empirical tail."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.scoring import surprise, tail_probability
from agent.scoring._calibration import fit_quantiles


def test_tail_follows_the_empirical_upper_tail() -> None:
    rng = np.random.default_rng(0)
    samples = rng.normal(size=20_000)
    q = fit_quantiles(samples, 1000)
    probe = np.linspace(-3, 3, 61)
    empirical = (samples[None, :] >= probe[:, None]).mean(axis=1)
    np.testing.assert_allclose(tail_probability(probe, q, samples.size), empirical, atol=2e-3)


def test_tail_is_clamped_to_one_over_n_plus_one_and_one() -> None:
    q = fit_quantiles(np.arange(99.0), 50)
    got = tail_probability(np.array([-1e9, -np.inf, 1e9, np.inf]), q, 99)
    np.testing.assert_array_equal(got, [1.0, 1.0, 0.01, 0.01])


def test_ties_give_the_conservative_larger_tail() -> None:
    samples = np.concatenate([np.zeros(900), np.linspace(0.1, 1.0, 100)])  # 90% exactly 0
    q = fit_quantiles(samples, 1000)
    assert tail_probability(np.array([0.0]), q, samples.size)[0] == pytest.approx(1.0, abs=2e-3)
    assert tail_probability(np.array([0.5]), q, samples.size)[0] == pytest.approx(0.056, abs=5e-3)


def test_infinite_samples_keep_their_share_of_the_tail() -> None:
    samples = np.concatenate([np.linspace(0, 1, 98), [np.inf, np.inf]])  # 2% are +inf
    q = fit_quantiles(samples, 100)
    assert q[-1] == np.inf and np.isfinite(q[:-2]).all()
    half, big, inf = tail_probability(np.array([0.5, 1e300, np.inf]), q, samples.size)
    assert half == pytest.approx(0.5, abs=0.02)
    assert big == pytest.approx(0.02, abs=1e-3) and inf == pytest.approx(0.02, abs=1e-3)


@settings(max_examples=50, deadline=None)
@given(
    samples=st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=300),
    probes=st.lists(st.floats(-2e6, 2e6), min_size=2, max_size=50),
    n_q=st.integers(2, 200),
)
def test_tail_is_monotone_and_in_range(samples: list[float], probes: list[float], n_q: int) -> None:
    q = fit_quantiles(np.array(samples), n_q)
    s = np.sort(np.array(probes))
    p = tail_probability(s, q, len(samples))
    assert (np.diff(p) <= 0).all()
    assert (p >= 1 / (len(samples) + 1)).all() and (p <= 1).all()


def test_surprise_is_minus_log10() -> None:
    np.testing.assert_allclose(surprise(np.array([1.0, 0.1, 1e-3])), [0.0, 1.0, 3.0])
