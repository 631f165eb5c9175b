"""``Scorer``: one interface over the CPU and CUDA backends, with calibration and frame scores."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from agent.errors import ScoringError
from agent.scoring._calibration import surprise, tail_probability
from agent.scoring._combine import (
    MultipleTesting,
    Policy,
    combine,
    combine_rows,
    over_detections,
    poisson_upper_tail,
)
from agent.scoring._cpu import CpuBackend
from agent.scoring._model import SCORE_NAMES
from agent.scoring._raw import Backend, raw_scores, validate_embeddings, validate_logits
from agent.scoring._stats import ScoringStats

logger = logging.getLogger(__name__)

Device = Literal["auto", "cpu", "cuda"]

#: the smallest p-value reported, so that surprise stays finite (float64 tiny, ~2.2e-308)
_P_FLOOR = float(np.finfo(np.float64).tiny)


@dataclass(frozen=True)
class DetectionScores:
    """Scores of the N detections of one frame.

    ``raw[name]`` ``[N]`` float64 in the units of ``SCORE_NAMES`` (higher = more anomalous);
    ``tail[name]`` ``[N]`` float64 in ``[1/(n+1), 1]``: probability that an in-distribution
    detection scores at least as high (smaller = more anomalous).
    """

    raw: Mapping[str, NDArray[np.float64]]
    tail: Mapping[str, NDArray[np.float64]]

    def __len__(self) -> int:
        return int(next(iter(self.raw.values())).shape[0])

    def surprise(self, name: str) -> NDArray[np.float64]:
        """``-log10 tail[name]`` (0 = typical, 3 = one in a thousand)."""
        return surprise(self.tail[name])


@dataclass(frozen=True)
class FrameScore:
    """A frame's combined evidence against "in distribution".

    ``p_value`` in ``(0, 1]`` (smaller = more anomalous), ``surprise = -log10 p_value``;
    ``detection_p`` is the multiple-testing-corrected p-value over detections, ``cluster_p``
    that of the unexplained-cluster count (1 when not used); ``detection_p_each`` ``[N]`` the
    per-detection p-values after combining scores (1 for masked-out detections) and
    ``most_anomalous`` the index of the smallest of them (-1 when there are none).
    """

    p_value: float
    surprise: float
    detection_p: float
    cluster_p: float
    detection_p_each: NDArray[np.float64]
    most_anomalous: int


class Scorer:
    """Scores detections with one backend; build it with ``make_scorer``."""

    def __init__(self, stats: ScoringStats, backend: Backend, k: int) -> None:
        self._stats = stats
        self._backend = backend
        self._k = k

    @property
    def device(self) -> str:
        """``"cpu"`` or ``"cuda"``."""
        return self._backend.name

    @property
    def stats(self) -> ScoringStats:
        """The statistics the scorer was built from."""
        return self._stats

    def raw(
        self, logits: NDArray[np.generic], embeddings: NDArray[np.generic]
    ) -> dict[str, NDArray[np.float64]]:
        """Raw scores by name, ``[N]`` float64 each; ``ScoringError`` names a bad input row."""
        lg = validate_logits(logits, self._stats.n_classes)
        emb = validate_embeddings(embeddings, self._stats.dim, lg.shape[0])
        return raw_scores(self._backend, lg, emb, self._k)

    def score(
        self, logits: NDArray[np.generic], embeddings: NDArray[np.generic]
    ) -> DetectionScores:
        """Raw and calibrated scores of detections: ``logits`` ``[N, M, K]``, ``embeddings`` ``[N, D]``."""
        raw = self.raw(logits, embeddings)
        stats = self._stats
        tail = {
            name: tail_probability(raw[name], stats.quantiles[i], stats.n_calibration)
            for i, name in enumerate(SCORE_NAMES)
        }
        return DetectionScores(raw=raw, tail=tail)

    def frame_score(
        self,
        scores: DetectionScores,
        *,
        unexplained_clusters: int = 0,
        detection_mask: NDArray[np.bool_] | None = None,
        score_names: Sequence[str] = SCORE_NAMES,
        policy: Policy = "minp",
        over: MultipleTesting = "simes",
        cluster_rate: float | None = None,
    ) -> FrameScore:
        """Combine a frame's detection tails and its unexplained-cluster count into one p-value.

        Per detection, the tails of ``score_names`` are combined by ``policy``; across the
        detections selected by ``detection_mask`` (default all) by ``over`` (Simes or
        Bonferroni); then that p-value and the cluster p-value are combined by ``policy``.
        The cluster p-value is ``P(Poisson(rate) >= unexplained_clusters)`` with ``rate`` the
        expected count per ID frame (``cluster_rate``, default ``stats.cluster_rate``); with no
        rate known the count is not used (``cluster_p = 1``) and a non-zero count is logged.
        See ``agent.scoring._combine`` for the policies and their validity.
        """
        unknown = [n for n in score_names if n not in scores.tail]
        if unknown or not score_names:
            raise ScoringError(
                f"score_names {list(score_names)} must be non-empty, from {SCORE_NAMES}"
            )
        if unexplained_clusters < 0:
            raise ScoringError(f"unexplained_clusters must be >= 0, got {unexplained_clusters}")
        n = len(scores)
        mask = (
            np.ones(n, dtype=bool)
            if detection_mask is None
            else np.asarray(detection_mask, dtype=bool)
        )
        if mask.shape != (n,):
            raise ScoringError(f"detection_mask has shape {mask.shape}, expected ({n},)")
        table = (
            np.stack([scores.tail[name] for name in score_names], axis=1) if n else np.ones((0, 1))
        )
        each = np.ones(n, dtype=np.float64)
        each[mask] = combine_rows(table[mask], policy)
        det_p = over_detections(each[mask], over)

        rate = self._stats.cluster_rate if cluster_rate is None else cluster_rate
        sources = [det_p]
        cluster_p = 1.0
        if math.isnan(rate):
            if unexplained_clusters:
                logger.debug(
                    "ignoring %d unexplained clusters: no cluster rate", unexplained_clusters
                )
        else:
            cluster_p = poisson_upper_tail(unexplained_clusters, rate)
            sources.append(cluster_p)
        p = max(combine(sources, policy), _P_FLOOR)
        kept = np.flatnonzero(mask)
        most = int(kept[np.argmin(each[kept])]) if kept.size else -1
        return FrameScore(
            p_value=p,
            surprise=-math.log10(p),
            detection_p=det_p,
            cluster_p=cluster_p,
            detection_p_each=each,
            most_anomalous=most,
        )


def cuda_available() -> bool:
    """True when numba sees a usable CUDA GPU (or runs the CUDA simulator)."""
    from numba import cuda

    return bool(cuda.is_available())  # type: ignore[no-untyped-call]


def make_scorer(stats: ScoringStats, device: Device = "auto", k: int | None = None) -> Scorer:
    """A ``Scorer`` on ``device``: ``"auto"`` picks CUDA when available, else the CPU.

    ``k`` must equal the ``stats.k`` the kNN calibration was fitted with (default). Forcing
    ``"cuda"`` without a GPU raises ``ScoringError``.
    """
    k = stats.k if k is None else k
    if k != stats.k:
        raise ScoringError(
            f"k={k} differs from k={stats.k} the knn calibration quantiles were fitted with; "
            "refit the scoring statistics with this k"
        )
    if device not in ("auto", "cpu", "cuda"):
        raise ScoringError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    model = stats.score_model(k)
    use_cuda = device == "cuda" or (device == "auto" and cuda_available())
    if device == "cuda" and not cuda_available():
        raise ScoringError(
            "device='cuda' was forced but numba finds no CUDA GPU; use 'cpu' or 'auto'"
        )
    backend: Backend
    if use_cuda:
        from agent.scoring._cuda import CudaBackend

        backend = CudaBackend(model)
    else:
        backend = CpuBackend(model)
    logger.info(
        "scoring on %s: D=%d, bank %d, k=%d", backend.name, model.dim, model.bank.shape[0], k
    )
    return Scorer(stats, backend, k)
