"""Uncertainty and out-of-distribution scores for detections and frames (numba CPU | CUDA).

Per detection, from the ensemble logits ``[N, M, K]`` and the embeddings ``[N, D]``, six raw
scores (``SCORE_NAMES``), all oriented so that **higher = more anomalous**: ``msp``
(1 - max mean-softmax), ``entropy`` and ``mutual_info`` (nats), ``energy``
(-logsumexp of the member-mean logits), ``mahalanobis`` (min over class Gaussians with a shared,
shrunk covariance) and ``knn`` (cosine distance to the k-th nearest training embedding).
Each raw score is calibrated against its in-distribution quantiles into a tail probability
``P(score_ID >= s)`` so that one threshold means the same for every score and model; a frame
score combines detections and frame-level signals (see ``agent.scoring._combine``).

Usage::

    stats = ScoringStats.fit_package(package_dir)  # training side, once per model
    stats.save(package_dir)                         # -> package_dir/scoring.npz
    scorer = make_scorer(ScoringStats.load(package_dir), device="auto")
    det = scorer.score(detections.logits, detections.embeddings)
    frame = scorer.frame_score(det, unexplained_clusters=2)

Errors: ``ScoringError`` for inputs with no defined result (NaN or +inf logits, a member with
all -inf logits, non-finite embeddings, wrong shapes; the message names the row),
``ModelPackageError`` for a missing or inconsistent ``scoring.npz`` / ``embeddings.npz``.
"""

from agent.scoring._calibration import surprise, tail_probability
from agent.scoring._model import SCORE_NAMES
from agent.scoring._scorer import (
    DetectionScores,
    Device,
    FrameScore,
    Scorer,
    cuda_available,
    make_scorer,
)
from agent.scoring._stats import SCORING_FILE, ScoringStats

__all__ = [
    "SCORE_NAMES",
    "SCORING_FILE",
    "DetectionScores",
    "Device",
    "FrameScore",
    "Scorer",
    "ScoringStats",
    "cuda_available",
    "make_scorer",
    "surprise",
    "tail_probability",
]
