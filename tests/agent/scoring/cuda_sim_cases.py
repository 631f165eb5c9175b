"""CUDA kernels against the float64 reference, run under the numba CUDA simulator.

Not collected by the main test run: ``test_cuda_sim.py`` runs this file in a subprocess with
``NUMBA_ENABLE_CUDASIM=1`` (the variable must be set before numba is imported, and the rest of
the suite imports numba without it). On a machine with a GPU, running this file directly without
the variable tests the real kernels. Inputs are small because the simulator runs every GPU
thread as a Python thread.
"""

from __future__ import annotations

import numpy as np
import pytest

from agent.errors import ScoringError
from agent.scoring import SCORE_NAMES, Scorer, ScoringStats, make_scorer
from agent.scoring._cuda import CudaBackend
from agent.scoring._model import ScoreModel
from tests.agent.scoring import reference

TOL = reference.KERNEL_TOL


@pytest.fixture(scope="module")
def stats() -> ScoringStats:
    # 150 bank rows: not a multiple of any tile, so the ragged last tile is exercised
    return reference.random_stats(21, n_train=150, n_val=40, dim=8, k=3, n_quantiles=20)


def small_tiles(stats: ScoringStats) -> Scorer:
    backend = CudaBackend(stats.score_model(), query_tile=2, lanes=4, bank_tile=16)
    return Scorer(stats, backend, stats.k)


def check(scorer: Scorer, logits: np.ndarray, emb: np.ndarray) -> None:
    got = scorer.raw(logits, emb)
    want = reference.all_scores(scorer.stats, logits, emb)
    cpu = make_scorer(scorer.stats, "cpu").raw(logits, emb)
    for name in SCORE_NAMES:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-9, atol=TOL[name], err_msg=name)
        np.testing.assert_allclose(got[name], cpu[name], rtol=1e-9, atol=TOL[name], err_msg=name)


def test_auto_selects_the_simulated_gpu(stats: ScoringStats) -> None:
    scorer = make_scorer(stats)
    assert scorer.device == "cuda"
    rng = np.random.default_rng(0)
    check(
        scorer,
        rng.normal(size=(3, 5, 6)).astype(np.float32),
        rng.normal(size=(3, 8)).astype(np.float32),
    )


@pytest.mark.parametrize("seed", [1, 2])
def test_random_inputs_match_the_reference_and_the_cpu(stats: ScoringStats, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 5  # not a multiple of the query tile
    logits = (rng.normal(size=(n, 3, 6)) * rng.uniform(0.1, 20)).astype(np.float32)
    emb = (rng.normal(size=(n, 8)) * 3).astype(np.float32)
    check(small_tiles(stats), logits, emb)


def test_nasty_inputs_match(stats: ScoringStats) -> None:
    big = np.float32(3.0e38)
    logits = np.zeros((4, 2, 6), np.float32)
    logits[0] = np.array([[big, -big, 0, 0, 0, 0], [big, big, 0, 0, 0, 0]], np.float32)
    logits[1] = -np.inf
    logits[1, :, 2] = 5.0
    logits[2, 0, 0] = -np.inf
    logits[3] = -np.inf
    logits[3, 0, 0] = logits[3, 1, 1] = 1.0  # energy +inf
    emb = np.ones((4, 8), np.float32)
    emb[1] = 0.0  # maximal knn distance
    emb[2] = stats.bank[7]  # a bank row: its nearest similarity is 1
    scorer = small_tiles(stats)
    check(scorer, logits, emb)
    raw = scorer.raw(logits, emb)
    assert raw["knn"][1] == 2.0 and raw["energy"][3] == np.inf


def test_partial_lists_merge_across_many_chunks(stats: ScoringStats) -> None:
    # a bank of 150 rows in tiles of 16 over 10 chunks and 4 lanes: 40 partial lists per query
    rng = np.random.default_rng(3)
    q = rng.normal(size=(3, 8)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    sims = small_tiles(stats)._backend.knn_similarities(q)
    want = -np.sort(-(q.astype(np.float64) @ stats.bank.astype(np.float64).T), axis=1)[:, : stats.k]
    np.testing.assert_allclose(sims, want, atol=1e-6)


def test_wide_embeddings_shrink_the_bank_tile_to_fit_shared_memory() -> None:
    def model(dim: int) -> ScoreModel:
        bank = np.zeros((16, dim), np.float32)
        bank[:, 0] = 1.0
        return ScoreModel(np.eye(dim), np.zeros((1, dim)), bank, 1)

    # (16 + 64) * 201 * 4 bytes = 64 KB > 48 KiB: the 64-row tile halves to 32
    assert CudaBackend(model(200))._bt == 32
    with pytest.raises(ScoringError, match=r"D=2000 needs \d+ bytes of shared memory"):
        CudaBackend(model(2000))
