"""Device selection, calibrated detection scores and the frame score policy."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agent.errors import ScoringError
from agent.scoring import SCORE_NAMES, DetectionScores, Scorer, ScoringStats, _scorer, make_scorer
from agent.scoring._combine import fisher, simes
from tests.agent.scoring import reference


@pytest.fixture(scope="module")
def stats() -> ScoringStats:
    return reference.random_stats(11)


@pytest.fixture(scope="module")
def scorer(stats: ScoringStats) -> Scorer:
    return make_scorer(stats, device="cpu")


def tails(**columns: list[float]) -> DetectionScores:
    n = len(next(iter(columns.values())))
    tail = {
        name: np.asarray(columns.get(name, [1.0] * n), dtype=np.float64) for name in SCORE_NAMES
    }
    return DetectionScores(raw={name: np.zeros(n) for name in SCORE_NAMES}, tail=tail)


def test_forcing_cuda_without_a_gpu_is_a_clear_error(
    stats: ScoringStats, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_scorer, "cuda_available", lambda: False)
    with pytest.raises(ScoringError, match="device='cuda' was forced but numba finds no CUDA GPU"):
        make_scorer(stats, device="cuda")
    assert make_scorer(stats, device="auto").device == "cpu"


def test_auto_picks_cuda_when_numba_reports_one(
    stats: ScoringStats, monkeypatch: pytest.MonkeyPatch
) -> None:
    import agent.scoring._cuda as cuda_module

    built: list[object] = []

    class FakeCuda:
        name = "cuda"

        def __init__(self, model: object) -> None:
            built.append(model)

    monkeypatch.setattr(_scorer, "cuda_available", lambda: True)
    monkeypatch.setattr(cuda_module, "CudaBackend", FakeCuda)
    assert make_scorer(stats, device="auto").device == "cuda"
    assert len(built) == 1


def test_without_a_gpu_auto_is_cpu_and_forced_cuda_is_refused(stats: ScoringStats) -> None:
    if _scorer.cuda_available():
        assert make_scorer(stats).device == "cuda"
        return
    assert make_scorer(stats).device == "cpu"
    with pytest.raises(ScoringError, match="no CUDA GPU"):
        make_scorer(stats, device="cuda")


def test_bad_device_and_k_are_refused(stats: ScoringStats) -> None:
    with pytest.raises(ScoringError, match="device must be 'auto', 'cpu' or 'cuda', got 'tpu'"):
        make_scorer(stats, device="tpu")  # type: ignore[arg-type]
    with pytest.raises(ScoringError, match=r"k=3 differs from k=5"):
        make_scorer(stats, k=3)


def test_out_of_distribution_embeddings_get_small_tails(scorer: Scorer) -> None:
    _, _, val_logits, val_emb = reference.fit_inputs(11)
    rng = np.random.default_rng(0)
    far = (rng.normal(size=(20, scorer.stats.dim)) * 40.0).astype(np.float32)
    flat = np.zeros((20, 5, 6), np.float32)  # uniform class probabilities: maximal entropy
    ood = scorer.score(flat, far)
    iid = scorer.score(val_logits[:20], val_emb[:20])
    floor = 1.0 / (scorer.stats.n_calibration + 1)
    for name in ("msp", "entropy", "energy", "mahalanobis"):
        assert np.median(ood.tail[name]) < 0.05 < np.median(iid.tail[name]), name
    np.testing.assert_allclose(ood.tail["mahalanobis"], floor)
    np.testing.assert_allclose(ood.surprise("mahalanobis"), -math.log10(floor))


def test_frame_score_default_is_bonferroni_over_scores_then_simes(scorer: Scorer) -> None:
    det = tails(entropy=[0.5, 0.001, 0.02], knn=[0.9, 0.5, 0.004])
    frame = scorer.frame_score(det)
    each = np.minimum(1.0, 6 * np.array([0.5, 0.001, 0.004]))
    np.testing.assert_allclose(frame.detection_p_each, each)
    assert frame.detection_p == pytest.approx(simes(each))
    assert frame.p_value == pytest.approx(simes(each))  # no cluster rate fitted: one source
    assert frame.cluster_p == 1.0 and frame.most_anomalous == 1
    assert frame.surprise == pytest.approx(-math.log10(frame.p_value))


def test_frame_score_fisher_and_score_subset(scorer: Scorer) -> None:
    det = tails(entropy=[0.5, 0.01], knn=[0.2, 0.03])
    frame = scorer.frame_score(
        det, score_names=("entropy", "knn"), policy="fisher", over="bonferroni"
    )
    each = np.array([fisher([0.5, 0.2]), fisher([0.01, 0.03])])
    np.testing.assert_allclose(frame.detection_p_each, each)
    assert frame.p_value == pytest.approx(min(1.0, 2 * each.min()))


def test_masked_detections_do_not_count(scorer: Scorer) -> None:
    det = tails(energy=[1e-4, 0.5, 0.5])
    all_in = scorer.frame_score(det)
    masked = scorer.frame_score(det, detection_mask=np.array([False, True, True]))
    assert masked.p_value > all_in.p_value
    assert masked.detection_p_each[0] == 1.0 and masked.most_anomalous in (1, 2)
    none = scorer.frame_score(det, detection_mask=np.zeros(3, bool))
    assert none.p_value == 1.0 and none.most_anomalous == -1


def test_unexplained_clusters_use_the_poisson_tail_of_the_rate(scorer: Scorer) -> None:
    det = tails(energy=[0.5, 0.9])
    quiet = scorer.frame_score(det, unexplained_clusters=0, cluster_rate=0.2)
    busy = scorer.frame_score(det, unexplained_clusters=4, cluster_rate=0.2)
    p4 = 1 - sum(math.exp(-0.2) * 0.2**i / math.factorial(i) for i in range(4))
    assert quiet.cluster_p == 1.0
    assert busy.cluster_p == pytest.approx(p4, rel=1e-9)
    assert busy.p_value == pytest.approx(min(1.0, 2 * p4))  # minp over the two sources
    ignored = scorer.frame_score(det, unexplained_clusters=4)  # stats carry no rate
    assert ignored.cluster_p == 1.0


def test_fitted_cluster_rate_is_used_by_default() -> None:
    args = reference.fit_inputs(12)
    stats = ScoringStats.fit(
        *args, k=5, n_quantiles=20, val_unexplained_clusters=np.array([0, 1, 0, 1])
    )
    assert stats.cluster_rate == 0.5
    frame = make_scorer(stats, "cpu").frame_score(tails(energy=[0.9]), unexplained_clusters=3)
    assert frame.cluster_p < 0.02


def test_frame_score_refuses_bad_arguments(scorer: Scorer) -> None:
    det = tails(energy=[0.5, 0.9])
    with pytest.raises(ScoringError, match="score_names"):
        scorer.frame_score(det, score_names=("nope",))
    with pytest.raises(ScoringError, match=r"detection_mask has shape \(3,\), expected \(2,\)"):
        scorer.frame_score(det, detection_mask=np.ones(3, bool))
    with pytest.raises(ScoringError, match="unexplained_clusters must be >= 0"):
        scorer.frame_score(det, unexplained_clusters=-1)


def test_a_frame_without_detections_scores_one(scorer: Scorer) -> None:
    det = scorer.score(np.zeros((0, 5, 6), np.float32), np.zeros((0, scorer.stats.dim), np.float32))
    frame = scorer.frame_score(det)
    assert frame.p_value == 1.0 and frame.detection_p_each.shape == (0,)
