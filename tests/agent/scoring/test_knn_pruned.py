"""The pruned kNN search: the same answer as the full scan, fewer rows compared."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.errors import ScoringError
from agent.scoring._cpu import PRUNE_MIN_BANK, PRUNE_TRIAL_QUERIES, CpuBackend
from agent.scoring._knn_pruned import build_knn_index, knn_pruned_kernel
from agent.scoring._model import ScoreModel
from agent.scoring._raw import unit_rows


def unit(x: np.ndarray) -> np.ndarray:
    rows, _ = unit_rows(np.ascontiguousarray(x, dtype=np.float32))
    return rows


def clustered(
    rng: np.random.Generator, n: int, dim: int, centres: int, spread: float
) -> np.ndarray:
    """Unit rows around ``centres`` random directions (what a trained embedding looks like)."""
    c = rng.normal(size=(centres, dim))
    return unit(c[rng.integers(0, centres, n)] + spread * rng.normal(size=(n, dim)))


def model_of(bank: np.ndarray, k: int) -> ScoreModel:
    dim = bank.shape[1]
    return ScoreModel.build(np.zeros((1, dim)), np.eye(dim), bank, k)


def exact_top(queries: np.ndarray, bank: np.ndarray, k: int) -> np.ndarray:
    """float64 reference: the k largest cosine similarities, descending."""
    sims = queries.astype(np.float64) @ bank.astype(np.float64).T
    out: np.ndarray = -np.sort(-sims, axis=1)[:, :k]
    return out


def pruned(
    queries: np.ndarray, bank: np.ndarray, k: int, groups: int
) -> tuple[np.ndarray, np.ndarray]:
    index = build_knn_index(bank, groups=groups)
    top = np.empty((queries.shape[0], k), dtype=np.float32)
    scanned = np.empty(queries.shape[0], dtype=np.int64)
    knn_pruned_kernel(
        queries, index.bank, index.starts, index.centroids_t, index.cos_radius,
        index.sin_radius, top, scanned,
    )  # fmt: skip
    return top, scanned


@pytest.mark.parametrize(
    ("n", "dim", "k", "groups"),
    [(2000, 32, 10, 60), (2000, 32, 10, 1), (300, 8, 1, 300), (500, 16, 50, 40), (64, 4, 64, 8)],
)
def test_same_answer_as_the_full_scan(n: int, dim: int, k: int, groups: int) -> None:
    rng = np.random.default_rng(n + dim + k)
    bank = clustered(rng, n, dim, centres=6, spread=0.3)
    queries = np.concatenate(
        [
            clustered(rng, 40, dim, centres=6, spread=0.3),  # in distribution, if other centres
            unit(rng.normal(size=(20, dim))),  # anywhere
            bank[:5],  # exactly a bank row: similarity 1 with itself
        ]
    )
    top, scanned = pruned(queries, bank, k, groups)
    np.testing.assert_allclose(top, exact_top(queries, bank, k), atol=2e-6)
    assert np.all(np.diff(top, axis=1) <= 0)
    assert np.all((scanned >= k) & (scanned <= n))


def test_clustered_banks_are_pruned() -> None:
    rng = np.random.default_rng(3)
    bank = clustered(rng, 8000, 32, centres=8, spread=0.15)
    queries = clustered(rng, 200, 32, centres=8, spread=0.15)
    _, scanned = pruned(queries, bank, 10, groups=200)
    assert scanned.mean() < 0.35 * bank.shape[0]


def test_zero_query_has_similarity_zero_with_every_row() -> None:
    bank = clustered(np.random.default_rng(4), 500, 8, centres=3, spread=0.2)
    top, scanned = pruned(np.zeros((2, 8), dtype=np.float32), bank, 5, groups=20)
    assert np.all(top == 0.0) and np.all(scanned == 0)


def test_duplicate_rows_and_ties() -> None:
    rng = np.random.default_rng(5)
    rows = clustered(rng, 50, 16, centres=2, spread=0.2)
    bank = np.ascontiguousarray(np.repeat(rows, 20, axis=0))  # every row twenty times
    top, _ = pruned(rows[:10], bank, 25, groups=30)
    np.testing.assert_allclose(top, exact_top(rows[:10], bank, 25), atol=2e-6)
    np.testing.assert_allclose(top[:, :20], 1.0, atol=2e-6)


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 400),
    dim=st.integers(1, 24),
    k_share=st.floats(0.0, 1.0),
    groups=st.integers(1, 60),
    seed=st.integers(0, 2**31 - 1),
)
def test_any_bank_any_grouping(n: int, dim: int, k_share: float, groups: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    bank = clustered(rng, n, dim, centres=int(rng.integers(1, 5)), spread=float(rng.uniform(0, 2)))
    k = max(1, round(k_share * n))
    queries = unit(rng.normal(size=(7, dim)))
    top, _ = pruned(queries, bank, k, groups)
    np.testing.assert_allclose(top, exact_top(queries, bank, k), atol=2e-6)


def test_index_keeps_every_row_and_bounds_every_member() -> None:
    bank = clustered(np.random.default_rng(6), 3000, 16, centres=5, spread=0.3)
    index = build_knn_index(bank, groups=40)
    again = build_knn_index(bank, groups=40)
    np.testing.assert_array_equal(index.bank, again.bank)  # deterministic
    np.testing.assert_array_equal(
        np.sort(index.bank.view(np.uint32), axis=0), np.sort(bank.view(np.uint32), axis=0)
    )
    assert index.starts[0] == 0 and index.starts[-1] == bank.shape[0]
    group_of_row = np.repeat(np.arange(index.groups), np.diff(index.starts))
    centroids = index.centroids_t.T[group_of_row].astype(np.float64)
    rows = index.bank.astype(np.float64)
    cosines = np.einsum("nd,nd->n", rows, centroids) / (
        np.linalg.norm(rows, axis=1) * np.linalg.norm(centroids, axis=1)
    )
    assert np.all(cosines >= index.cos_radius[group_of_row] - 1e-12)


def test_auto_prunes_a_structured_bank_and_gives_up_on_random_directions(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rng = np.random.default_rng(7)
    n = PRUNE_MIN_BANK
    structured = clustered(rng, n, 32, centres=8, spread=0.1)
    shapeless = unit(rng.normal(size=(n, 64)))
    keep = CpuBackend(model_of(structured, 10))
    drop = CpuBackend(model_of(shapeless, 10))
    assert keep.knn_method == drop.knn_method == "pruned"
    with caplog.at_level(logging.INFO, logger="agent.scoring._cpu"):
        for _ in range(PRUNE_TRIAL_QUERIES // 64 + 1):
            q_keep = clustered(rng, 64, 32, centres=8, spread=0.1)
            q_drop = unit(rng.normal(size=(64, 64)))
            np.testing.assert_allclose(
                keep.knn_similarities(q_keep), exact_top(q_keep, structured, 10), atol=2e-6
            )
            np.testing.assert_allclose(
                drop.knn_similarities(q_drop), exact_top(q_drop, shapeless, 10), atol=2e-6
            )
    assert keep.knn_method == "pruned" and keep.knn_scan_share < 0.35
    assert drop.knn_method == "brute"
    assert "scanning it whole from now on" in caplog.text


def test_small_banks_and_forced_methods() -> None:
    bank = clustered(np.random.default_rng(8), 600, 8, centres=3, spread=0.2)
    assert CpuBackend(model_of(bank, 3)).knn_method == "brute"  # below PRUNE_MIN_BANK
    forced = CpuBackend(model_of(bank, 3), knn="pruned")
    assert forced.knn_method == "pruned"
    q = unit(np.random.default_rng(9).normal(size=(10, 8)))
    np.testing.assert_allclose(forced.knn_similarities(q), exact_top(q, bank, 3), atol=2e-6)
    assert CpuBackend(model_of(bank, 3), knn="brute").knn_method == "brute"
    with pytest.raises(ScoringError, match="knn must be"):
        CpuBackend(model_of(bank, 3), knn="faiss")  # type: ignore[arg-type]


def test_the_shipped_bank_is_pruned_and_exact() -> None:
    """The production configuration: the baseline package's bank (trained embeddings) is pruned
    by the default backend, and its answers are the full scan's, for near-bank and far queries."""
    from agent.perception.package import default_package_path
    from agent.scoring import ScoringStats

    model = ScoringStats.load(default_package_path()).score_model()
    backend = CpuBackend(model)
    assert backend.knn_method == "pruned" and backend.knn_groups > 1
    rng = np.random.default_rng(10)
    near = unit(
        model.bank[rng.choice(model.bank.shape[0], 200)] + 0.05 * rng.normal(size=(200, model.dim))
    )
    far = unit(rng.normal(size=(50, model.dim)))
    queries = np.concatenate([near, far])
    np.testing.assert_allclose(
        backend.knn_similarities(queries), exact_top(queries, model.bank, model.k), atol=2e-6
    )
    assert backend.knn_scan_share < 0.35  # the bank's structure is what makes pruning pay
