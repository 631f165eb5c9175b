"""Float64 numpy definitions of every score: the oracle the CPU and CUDA kernels are tested against.

Written for clarity, not speed: one obvious formula per score, straight from its definition.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from agent.scoring import ScoringStats

#: absolute tolerances of the kernels against this reference: float64 kernels, except the kNN,
#: which accumulates in float32
KERNEL_TOL = {
    "msp": 1e-12,
    "entropy": 1e-12,
    "mutual_info": 1e-12,
    "energy": 1e-9,
    "mahalanobis": 1e-8,
    "knn": 2e-6,
}


def log_softmax(logits: NDArray[np.float64]) -> NDArray[np.float64]:
    """Log-softmax over the last axis with max subtraction (rows with a finite max)."""
    mx = logits.max(axis=-1, keepdims=True)
    shifted = logits - mx
    out: NDArray[np.float64] = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return out


def entropy(p: NDArray[np.float64], logp: NDArray[np.float64]) -> NDArray[np.float64]:
    """``-sum p log p`` over the last axis with ``0 log 0 = 0``."""
    terms = np.where(p > 0, -p * np.where(p > 0, logp, 0.0), 0.0)
    out: NDArray[np.float64] = terms.sum(axis=-1)
    return out


def logit_scores(logits: NDArray[np.floating]) -> dict[str, NDArray[np.float64]]:
    """msp, entropy, mutual_info, energy of ``[N, M, K]`` logits (no all -inf member rows)."""
    lg = np.asarray(logits, dtype=np.float64)
    logp = log_softmax(lg)  # [N, M, K]
    p = np.exp(logp)
    pbar = p.mean(axis=1)
    with np.errstate(divide="ignore"):
        logpbar = np.log(pbar)
    h_bar = entropy(pbar, logpbar)
    h_members = entropy(p, logp).mean(axis=1)
    mean_logits = lg.mean(axis=1)
    mx = mean_logits.max(axis=1)
    with np.errstate(invalid="ignore"):
        lse = mx + np.log(np.exp(mean_logits - mx[:, None]).sum(axis=1))
    energy = np.where(np.isneginf(mx), np.inf, -lse)
    return {
        "msp": 1.0 - pbar.max(axis=1),
        "entropy": h_bar,
        "mutual_info": np.maximum(h_bar - h_members, 0.0),
        "energy": energy,
    }


def mahalanobis(
    emb: NDArray[np.floating], means: NDArray[np.float64], precision: NDArray[np.float64]
) -> NDArray[np.float64]:
    """``min_c sqrt((x - mu_c)^T P (x - mu_c))`` for each row of ``emb``."""
    x = np.asarray(emb, dtype=np.float64)
    diff = x[:, None, :] - means[None, :, :]  # [N, C, D]
    d2 = np.einsum("ncd,de,nce->nc", diff, precision, diff)
    out: NDArray[np.float64] = np.sqrt(np.maximum(d2.min(axis=1), 0.0))
    return out


def knn_distance(
    emb: NDArray[np.floating], bank: NDArray[np.floating], k: int
) -> NDArray[np.float64]:
    """Cosine distance to the k-th most similar bank row; 2 for a zero query."""
    x = np.asarray(emb, dtype=np.float64)
    b = np.asarray(bank, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1)
    unit = x / np.where(norms == 0, 1.0, norms)[:, None]
    sims = unit @ b.T
    kth = -np.sort(-sims, axis=1)[:, k - 1]
    return np.where(norms == 0, 2.0, np.clip(1.0 - kth, 0.0, 2.0))


def all_scores(
    stats: ScoringStats, logits: NDArray[np.floating], emb: NDArray[np.floating]
) -> dict[str, NDArray[np.float64]]:
    """Every raw score by name, from the definitions above."""
    out = logit_scores(logits)
    out["mahalanobis"] = mahalanobis(emb, stats.class_means, stats.precision)
    out["knn"] = knn_distance(emb, stats.bank, stats.k)
    return out


def fit_inputs(
    seed: int,
    *,
    n_train: int = 400,
    n_val: int = 200,
    dim: int = 16,
    n_classes: int = 6,
    n_members: int = 5,
) -> tuple[NDArray[np.float32], NDArray[np.int64], NDArray[np.float32], NDArray[np.float32]]:
    """Clustered random fit materials: class c's embeddings sit around a random mean and its
    logits favour class c. Returns train embeddings, train labels, val logits, val embeddings."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(n_classes, dim))
    labels = rng.integers(0, n_classes, n_train)
    train = centres[labels] + rng.normal(size=(n_train, dim))
    val_labels = rng.integers(0, n_classes, n_val)
    val_emb = centres[val_labels] + rng.normal(size=(n_val, dim))
    val_logits = rng.normal(size=(n_val, n_members, n_classes))
    val_logits[np.arange(n_val), :, val_labels] += 3.0
    return (
        train.astype(np.float32),
        labels.astype(np.int64),
        val_logits.astype(np.float32),
        val_emb.astype(np.float32),
    )


def random_stats(seed: int, *, k: int = 5, n_quantiles: int = 100, **sizes: int) -> ScoringStats:
    """Statistics fitted on ``fit_inputs(seed, **sizes)``."""
    return ScoringStats.fit(*fit_inputs(seed, **sizes), k=k, n_quantiles=n_quantiles)
