"""The vectorisable exp of the logit kernel against numpy's, ulp by ulp."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from agent.scoring._exp import EXP_MIN, exp_nonpositive_kernel


def vexp(x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    exp_nonpositive_kernel(np.ascontiguousarray(x, dtype=np.float64), out)
    return out


def ulps(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.abs(got - want) / np.spacing(want)
    return out


def test_within_two_ulp_over_the_whole_range() -> None:
    rng = np.random.default_rng(7)
    # dense near 0 (softmax of close logits) and uniform down to the underflow bound
    x = np.concatenate([-rng.exponential(2.0, 200_000), rng.uniform(EXP_MIN, 0.0, 200_000)])
    x = x[x > EXP_MIN]
    assert ulps(vexp(x), np.exp(x)).max() <= 2.0


def test_reduction_boundaries_and_exact_points() -> None:
    half_ln2 = np.log(2.0) / 2
    x = np.array([0.0, -0.0, -1e-300, -1e-17, -half_ln2, np.nextafter(-half_ln2, 0), -np.log(2.0)])
    got = vexp(x)
    assert got[0] == 1.0 and got[1] == 1.0
    assert ulps(got, np.exp(x)).max() <= 2.0


def test_underflow_and_minus_infinity_give_zero() -> None:
    x = np.array([-np.inf, -1e308, -745.2, EXP_MIN, np.nan])
    np.testing.assert_array_equal(vexp(x), 0.0)


def test_the_first_value_above_the_bound_is_still_accurate() -> None:
    x = np.array([np.nextafter(EXP_MIN, 0.0), -707.5])
    assert ulps(vexp(x), np.exp(x)).max() <= 2.0


@settings(max_examples=100, deadline=None)
@given(hnp.arrays(np.float64, st.integers(0, 300), elements=st.floats(EXP_MIN, 0.0)))
def test_any_length_any_values(x: np.ndarray) -> None:
    x = x[x > EXP_MIN]
    assert ulps(vexp(x), np.exp(x)).max(initial=0.0) <= 2.0
