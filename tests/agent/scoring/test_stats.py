"""Fitting, saving and loading ``scoring.npz``: round trips, singular fits, and refused files."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from agent.errors import ModelPackageError, ScoringError
from agent.scoring import SCORE_NAMES, ScoringStats, make_scorer
from agent.scoring._stats import regularised_covariance
from tests.agent.scoring import reference


@pytest.fixture(scope="module")
def stats() -> ScoringStats:
    return reference.random_stats(5)


def test_round_trip_keeps_every_array_and_the_scores(stats: ScoringStats, tmp_path: Path) -> None:
    path = stats.save(tmp_path)
    assert path == tmp_path / "scoring.npz"
    back = ScoringStats.load(tmp_path)
    for field in ("class_ids", "class_means", "precision", "bank", "quantiles"):
        np.testing.assert_array_equal(getattr(back, field), getattr(stats, field), err_msg=field)
    assert (back.n_calibration, back.n_classes, back.k) == (stats.n_calibration, 6, stats.k)
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(7, 5, 6)).astype(np.float32)
    emb = rng.normal(size=(7, stats.dim)).astype(np.float32)
    a = make_scorer(stats, "cpu").score(logits, emb)
    b = make_scorer(back, "cpu").score(logits, emb)
    for name in SCORE_NAMES:
        np.testing.assert_array_equal(a.tail[name], b.tail[name])


def test_validation_rows_get_uniform_tails(stats: ScoringStats) -> None:
    # the quantiles were fitted on these rows: their tails are spread evenly over (0, 1]
    _, _, val_logits, val_emb = reference.fit_inputs(5)
    scores = make_scorer(stats, "cpu").score(val_logits, val_emb)
    for name in ("entropy", "energy", "mahalanobis", "knn"):  # continuous scores (no ties)
        tails = np.sort(scores.tail[name])
        uniform = 1.0 - np.arange(tails.size)[::-1] / tails.size
        assert np.abs(tails - uniform).max() < 0.02, name


def test_a_singular_covariance_still_fits(tmp_path: Path) -> None:
    # fewer rows than dimensions and a constant component: the raw covariance is singular
    rng = np.random.default_rng(1)
    train = rng.normal(size=(20, 64)).astype(np.float32)
    train[:, 3] = 2.0
    labels = np.arange(20) % 3
    stats = ScoringStats.fit(
        train,
        labels,
        rng.normal(size=(30, 2, 3)).astype(np.float32),
        rng.normal(size=(30, 64)).astype(np.float32),
        k=3,
        n_quantiles=10,
    )
    assert np.linalg.eigvalsh(stats.precision).min() > 0
    assert stats.class_ids.tolist() == [0, 1, 2]
    ScoringStats.load(stats.save(tmp_path))


def test_shrinkage_keeps_an_all_zero_covariance_definite() -> None:
    cov = regularised_covariance(np.zeros((5, 4)), 0.1)
    np.testing.assert_allclose(cov, 0.1 * np.eye(4))
    with pytest.raises(ScoringError, match="shrinkage must be in"):
        regularised_covariance(np.zeros((5, 4)), 0.0)


def test_zero_training_vectors_stay_out_of_the_bank() -> None:
    rng = np.random.default_rng(2)
    train = rng.normal(size=(50, 8)).astype(np.float32)
    train[:10] = 0.0
    stats = ScoringStats.fit(
        train,
        np.zeros(50, int),
        rng.normal(size=(20, 1, 2)).astype(np.float32),
        rng.normal(size=(20, 8)).astype(np.float32),
        k=2,
        n_quantiles=5,
    )
    assert stats.bank.shape == (40, 8)
    np.testing.assert_allclose(np.linalg.norm(stats.bank, axis=1), 1.0, rtol=1e-6)


def test_the_bank_is_subsampled_to_max_bank() -> None:
    rng = np.random.default_rng(3)
    stats = ScoringStats.fit(
        rng.normal(size=(300, 8)).astype(np.float32),
        np.zeros(300, int),
        rng.normal(size=(20, 1, 2)).astype(np.float32),
        rng.normal(size=(20, 8)).astype(np.float32),
        k=2,
        n_quantiles=5,
        max_bank=100,
    )
    assert stats.bank.shape == (100, 8)


def test_float16_bank_changes_knn_scores_by_a_measured_small_amount() -> None:
    s32 = reference.random_stats(4, dim=64, n_train=2000, k=10)
    rng = np.random.default_rng(4)
    args = reference.fit_inputs(4, dim=64, n_train=2000)
    s16 = ScoringStats.fit(*args, k=10, n_quantiles=100, bank_dtype="float16")
    assert s16.bank.dtype == np.float16
    emb = rng.normal(scale=3, size=(200, 64)).astype(np.float32)
    logits = np.zeros((200, 1, 6), np.float32)
    d32 = make_scorer(s32, "cpu").raw(logits, emb)["knn"]
    d16 = make_scorer(s16, "cpu").raw(logits, emb)["knn"]
    # float16 keeps 11 significant bits: a unit-vector component moves by <= 2^-11 relatively,
    # a cosine by about 1e-3 at most; the measured error is far smaller (random rounding)
    assert np.abs(d32 - d16).max() < 1e-3


def test_fit_refuses_inconsistent_inputs() -> None:
    rng = np.random.default_rng(6)
    emb = rng.normal(size=(10, 4)).astype(np.float32)
    logits = np.zeros((5, 1, 3), np.float32)
    val = np.zeros((5, 4), np.float32)
    with pytest.raises(ScoringError, match=r"disagree: \(10, 4\) vs \(9,\)"):
        ScoringStats.fit(emb, np.zeros(9, int), logits, val)
    with pytest.raises(ScoringError, match=r"outside the K=3 logit classes"):
        ScoringStats.fit(emb, np.full(10, 3), logits, val, k=2)
    with pytest.raises(ScoringError, match=r"embeddings must be \[N=5, D=4\]"):
        ScoringStats.fit(emb, np.zeros(10, int), logits, val[:, :3], k=2)
    with pytest.raises(ScoringError, match="only 10 non-zero training embeddings for k=11"):
        ScoringStats.fit(emb, np.zeros(10, int), logits, val, k=11)


def test_fit_package_reads_embeddings_npz(tmp_path: Path) -> None:
    train, labels, val_logits, val_emb = reference.fit_inputs(7)
    np.savez(
        tmp_path / "embeddings.npz",
        train_embeddings=train,
        train_labels=labels,
        val_logits=val_logits,
        val_embeddings=val_emb,
        val_labels=np.zeros(len(val_emb), int),
    )
    stats = ScoringStats.fit_package(tmp_path, k=4, n_quantiles=50)
    assert stats.k == 4 and stats.quantiles.shape == (len(SCORE_NAMES), 50)
    np.savez(tmp_path / "embeddings.npz", train_embeddings=train)
    with pytest.raises(ModelPackageError, match=r"embeddings.npz: missing array 'train_labels'"):
        ScoringStats.fit_package(tmp_path)
    with pytest.raises(ModelPackageError, match=r"file not found"):
        ScoringStats.fit_package(tmp_path / "nowhere")


def _saved(stats: ScoringStats, tmp_path: Path, **replace: object) -> Path:
    stats.save(tmp_path)
    with np.load(tmp_path / "scoring.npz") as data:
        arrays = {name: data[name] for name in data.files}
    for name, value in replace.items():
        if value is None:
            del arrays[name]
        else:
            arrays[name] = np.asarray(value)
    np.savez(tmp_path / "scoring.npz", **arrays)
    return tmp_path / "scoring.npz"


@pytest.mark.parametrize(
    ("replace", "message"),
    [
        ({"precision": None}, r"array 'precision' is missing"),
        (
            {"precision": np.eye(3)},
            r"array 'class_means' has shape \(6, 16\), expected \(C, D\) = \(6, 3\)",
        ),
        ({"precision": -np.eye(16)}, r"array 'precision' is not positive definite"),
        ({"precision": np.triu(np.ones((16, 16)))}, r"array 'precision' is not symmetric"),
        ({"bank": np.ones((30, 16), np.float32)}, r"array 'bank' rows are not unit vectors"),
        ({"bank": np.ones((30, 15), np.float32)}, r"array 'bank' has shape \(30, 15\)"),
        ({"quantiles": np.ones((5, 10))}, r"array 'quantiles' has shape \(5, 10\)"),
        ({"quantiles": -np.ones((6, 10)).cumsum(axis=1)}, r"'quantiles' is not non-decreasing"),
        ({"format_version": 9}, r"'format_version' is 9, this agent reads 1"),
        ({"k": 10_000}, r"'k' is 10000, expected between 1 and the bank size 400"),
        ({"class_ids": np.array([0, 1, 2, 3, 4, 9])}, r"'class_ids' \[0, 1, 2, 3, 4, 9\]"),
        ({"class_means": np.full((6, 16), np.nan)}, r"'class_means' has non-finite values"),
        ({"score_names": np.array(["msp"])}, r"'score_names' is \('msp',\)"),
    ],
)
def test_load_names_the_file_and_the_bad_array(
    stats: ScoringStats, tmp_path: Path, replace: dict[str, object], message: str
) -> None:
    path = _saved(stats, tmp_path, **replace)
    with pytest.raises(ModelPackageError, match=message) as info:
        ScoringStats.load(path)
    assert str(path) in str(info.value)


def test_load_refuses_a_truncated_file(stats: ScoringStats, tmp_path: Path) -> None:
    path = stats.save(tmp_path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ModelPackageError, match=r"scoring.npz: not a readable npz archive"):
        ScoringStats.load(path)
    path.write_bytes(b"")
    with pytest.raises(ModelPackageError, match=r"scoring.npz"):
        ScoringStats.load(tmp_path)


def test_save_is_atomic_over_an_existing_file(stats: ScoringStats, tmp_path: Path) -> None:
    stats.save(tmp_path)
    before = (tmp_path / "scoring.npz").read_bytes()
    stats.save(tmp_path)
    assert (tmp_path / "scoring.npz").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["scoring.npz"]  # no temp file left
    np.load(io.BytesIO(before))
