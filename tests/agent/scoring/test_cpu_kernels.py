"""The numba CPU backend against the float64 reference, including the numerically nasty inputs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from agent.errors import ScoringError
from agent.scoring import SCORE_NAMES, Scorer, ScoringStats, make_scorer
from tests.agent.scoring import reference

TOL = reference.KERNEL_TOL


@pytest.fixture(scope="module")
def stats() -> ScoringStats:
    return reference.random_stats(1)


@pytest.fixture(scope="module")
def scorer(stats: ScoringStats) -> Scorer:
    return make_scorer(stats, device="cpu")


def assert_matches_reference(
    scorer: Scorer, logits: np.ndarray, emb: np.ndarray, scale: float = 1.0
) -> None:
    got = scorer.raw(logits, emb)
    want = reference.all_scores(scorer.stats, logits, emb)
    for name in SCORE_NAMES:
        np.testing.assert_allclose(
            got[name], want[name], rtol=1e-9, atol=TOL[name] * scale, err_msg=name
        )


logit_arrays = hnp.arrays(
    np.float32,
    st.tuples(st.integers(1, 12), st.integers(1, 5), st.just(6)),
    elements=st.floats(-60, 60, width=32),
)


@settings(max_examples=60, deadline=None)
@given(logits=logit_arrays, seed=st.integers(0, 2**31 - 1))
def test_random_inputs_match_the_reference(scorer: Scorer, logits: np.ndarray, seed: int) -> None:
    rng = np.random.default_rng(seed)
    emb = (rng.normal(size=(logits.shape[0], scorer.stats.dim)) * rng.uniform(0.1, 10)).astype(
        np.float32
    )
    assert_matches_reference(scorer, logits, emb, scale=max(1.0, float(np.abs(logits).max())))


def test_a_large_bank_and_many_detections_match(scorer: Scorer) -> None:
    stats = reference.random_stats(2, n_train=3000, dim=64, k=10)
    big = make_scorer(stats, device="cpu")
    rng = np.random.default_rng(3)
    logits = rng.normal(scale=4, size=(130, 5, 6)).astype(np.float32)
    emb = rng.normal(scale=3, size=(130, 64)).astype(np.float32)
    assert_matches_reference(big, logits, emb)


def test_the_bank_row_itself_is_at_distance_zero(stats: ScoringStats) -> None:
    scorer = make_scorer(stats, device="cpu")
    # the k-th neighbour of a bank row is farther than the row itself, but k=1 sees the row
    one = ScoringStats(**{**stats.__dict__, "k": 1})
    query = stats.bank[:3].astype(np.float32) * 7.0  # scale does not change cosine
    logits = np.zeros((3, 5, 6), np.float32)
    np.testing.assert_allclose(make_scorer(one, "cpu").raw(logits, query)["knn"], 0.0, atol=1e-6)
    assert (scorer.raw(logits, query)["knn"] > 0).all()


def test_huge_and_minus_inf_logits_are_defined(scorer: Scorer) -> None:
    big = np.float32(3.0e38)
    logits = np.zeros((3, 2, 6), np.float32)
    logits[0] = np.array([[big, -big, 0, 0, 0, 0], [big, big, 0, 0, 0, 0]], np.float32)
    logits[1] = -np.inf
    logits[1, :, 2] = 5.0  # one finite class: certain
    logits[2, 0] = [-np.inf, 1, 2, 3, 4, 5]
    logits[2, 1] = [1, -np.inf, 2, 3, 4, 5]
    emb = np.ones((3, scorer.stats.dim), np.float32)
    got = scorer.raw(logits, emb)
    for name in SCORE_NAMES:
        assert np.isfinite(got[name]).all(), name
    assert got["msp"][1] == 0.0 and got["entropy"][1] == 0.0
    assert got["energy"][1] == -5.0
    assert_matches_reference(scorer, logits, emb)


def test_energy_is_inf_when_no_class_is_finite_in_every_member(scorer: Scorer) -> None:
    logits = np.full((1, 2, 6), -np.inf, np.float32)
    logits[0, 0, 0] = 1.0
    logits[0, 1, 1] = 1.0
    got = scorer.score(logits, np.ones((1, scorer.stats.dim), np.float32))
    assert got.raw["energy"][0] == np.inf
    assert got.tail["energy"][0] == pytest.approx(1 / (scorer.stats.n_calibration + 1))


def test_a_member_with_all_minus_inf_logits_is_refused_by_row(scorer: Scorer) -> None:
    logits = np.zeros((4, 3, 6), np.float32)
    logits[2, 1] = -np.inf
    with pytest.raises(ScoringError, match=r"row 2 \(member 1\).*-inf for all 6"):
        scorer.raw(logits, np.zeros((4, scorer.stats.dim), np.float32))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_and_plus_inf_logits_are_refused_by_row(scorer: Scorer, bad: float) -> None:
    logits = np.zeros((4, 3, 6), np.float32)
    logits[3, 2, 5] = bad
    with pytest.raises(ScoringError, match=r"logits row 3 \(member 2, class 5\)"):
        scorer.raw(logits, np.zeros((4, scorer.stats.dim), np.float32))


@pytest.mark.parametrize("bad", [np.nan, -np.inf])
def test_non_finite_embeddings_are_refused_by_row(scorer: Scorer, bad: float) -> None:
    emb = np.zeros((4, scorer.stats.dim), np.float32)
    emb[1, 7] = bad
    with pytest.raises(ScoringError, match=r"embeddings row 1 \(component 7\)"):
        scorer.raw(np.zeros((4, 3, 6), np.float32), emb)


def test_a_zero_embedding_is_at_the_maximal_knn_distance(scorer: Scorer) -> None:
    emb = np.zeros((2, scorer.stats.dim), np.float32)
    emb[1, 0] = 1e-30  # tiny but not zero: has a direction
    got = scorer.raw(np.zeros((2, 1, 6), np.float32), emb)
    assert got["knn"][0] == 2.0
    assert got["knn"][1] < 2.0
    np.testing.assert_allclose(
        got["mahalanobis"],
        reference.mahalanobis(emb, scorer.stats.class_means, scorer.stats.precision),
    )


@pytest.mark.parametrize(
    ("logits_shape", "emb_shape", "message"),
    [
        ((4, 5), (4, 16), r"logits must be \[N, M, K\]"),
        ((4, 5, 3), (4, 16), r"K=3 classes .* K=6"),
        ((4, 5, 6), (3, 16), r"embeddings must be \[N=4, D=16\]"),
        ((4, 5, 6), (4, 8), r"got shape \(4, 8\)"),
    ],
)
def test_wrong_shapes_are_refused_with_the_shapes(
    scorer: Scorer, logits_shape: tuple[int, ...], emb_shape: tuple[int, ...], message: str
) -> None:
    with pytest.raises(ScoringError, match=message):
        scorer.raw(np.zeros(logits_shape, np.float32), np.zeros(emb_shape, np.float32))


def test_no_detections_give_empty_scores(scorer: Scorer) -> None:
    got = scorer.score(np.zeros((0, 5, 6), np.float32), np.zeros((0, 16), np.float32))
    assert len(got) == 0
    assert all(got.tail[name].shape == (0,) for name in SCORE_NAMES)
