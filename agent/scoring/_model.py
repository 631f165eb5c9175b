"""The score catalogue and the device-independent arrays the kernels read.

``ScoreModel`` is derived once from the stored statistics (a Cholesky factor of the precision,
the whitened class means, the transposed bank) so that every backend gets the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

from agent.errors import ScoringError

#: Every raw score, in storage order. All are oriented so that higher = more anomalous:
#:
#: * ``msp`` -- ``1 - max_k pbar_k`` where ``pbar`` is the ensemble-mean softmax (dimensionless).
#: * ``entropy`` -- predictive entropy ``H(pbar)`` in nats.
#: * ``mutual_info`` -- BALD, ``H(pbar) - mean_m H(p_m)`` in nats (epistemic part).
#: * ``energy`` -- free energy ``-logsumexp_k(mean_m logits)`` (temperature 1, logit units);
#:   the usual "negative energy" ID score ``logsumexp`` flipped in sign.
#: * ``mahalanobis`` -- ``min_c sqrt((x - mu_c)^T P (x - mu_c))`` in embedding units.
#: * ``knn`` -- cosine distance ``1 - cos`` to the k-th nearest bank entry, in [0, 2];
#:   a zero embedding has no direction and scores the maximum, 2.
SCORE_NAMES: Final[tuple[str, ...]] = (
    "msp",
    "entropy",
    "mutual_info",
    "energy",
    "mahalanobis",
    "knn",
)


@dataclass(frozen=True)
class ScoreModel:
    """Arrays the kernels read, derived from ``ScoringStats``.

    ``whiten`` ``[D, D]`` float64 upper-triangular with ``precision = whiten.T @ whiten``;
    ``whitened_means`` ``[C, D]`` float64; ``bank`` ``[B, D]`` float32 C-contiguous unit rows
    (a float16 stored bank is widened here); ``k`` neighbours.
    """

    whiten: NDArray[np.float64]
    whitened_means: NDArray[np.float64]
    bank: NDArray[np.float32]
    k: int

    @property
    def dim(self) -> int:
        """Embedding dimension D."""
        return int(self.whiten.shape[0])

    @classmethod
    def build(
        cls,
        class_means: NDArray[np.float64],
        precision: NDArray[np.float64],
        bank: NDArray[np.floating],
        k: int,
    ) -> ScoreModel:
        """Derive the kernel arrays; ``ScoringError`` if the precision is not positive definite."""
        if not 1 <= k <= bank.shape[0]:
            raise ScoringError(f"k={k} must be between 1 and the bank size {bank.shape[0]}")
        try:
            lower = np.linalg.cholesky(precision)
        except np.linalg.LinAlgError as exc:
            raise ScoringError(
                f"precision matrix {precision.shape} is not positive definite: {exc}"
            ) from exc
        whiten = np.ascontiguousarray(lower.T)
        whitened_means = np.ascontiguousarray(class_means @ lower)
        bank32 = np.ascontiguousarray(bank, dtype=np.float32)
        return cls(whiten=whiten, whitened_means=whitened_means, bank=bank32, k=k)
