"""Input validation and the raw-score pipeline shared by every backend.

A backend provides three kernels (logit scores, Mahalanobis, kNN similarities); this module
checks the inputs once, in numpy, and assembles the named raw scores. Refused inputs raise
``ScoringError`` naming the first offending detection row:

* a NaN or +inf logit (no ordering of classes is defined);
* an ensemble member whose K logits are all -inf (no distribution);
* a NaN or infinite embedding component.

Accepted and defined: -inf logits (probability 0), logits up to the float32 maximum, and zero
embeddings (kNN distance 2, the maximum; Mahalanobis is defined for any finite point).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from agent.errors import ScoringError
from agent.scoring._model import SCORE_NAMES


class Backend(Protocol):
    """The three kernels a device provides; shapes as in ``agent.scoring._cpu.CpuBackend``."""

    name: str

    def logit_scores(self, logits: NDArray[np.float32]) -> NDArray[np.float64]:
        """``[N, 4]``: msp, entropy, mutual_info, energy."""
        ...

    def mahalanobis(self, emb: NDArray[np.float32]) -> NDArray[np.float64]:
        """``[N]`` min-over-classes Mahalanobis distance."""
        ...

    def knn_similarities(self, unit_queries: NDArray[np.float32]) -> NDArray[np.float32]:
        """``[N, k]`` largest cosine similarities, descending."""
        ...


def _first_row(mask: NDArray[np.bool_]) -> int:
    return int(np.flatnonzero(mask)[0])


def validate_logits(logits: NDArray[np.generic], n_classes: int | None) -> NDArray[np.float32]:
    """``[N, M, K]`` float32 C-contiguous logits, or ``ScoringError`` naming the bad row."""
    arr = np.asarray(logits)
    if arr.ndim != 3 or arr.shape[1] < 1 or arr.shape[2] < 1:
        raise ScoringError(f"logits must be [N, M, K] with M, K >= 1, got shape {arr.shape}")
    if n_classes is not None and arr.shape[2] != n_classes:
        raise ScoringError(
            f"logits have K={arr.shape[2]} classes but the scoring statistics were fitted "
            f"with K={n_classes}"
        )
    out = np.ascontiguousarray(arr, dtype=np.float32)
    bad = np.isnan(out) | np.isposinf(out)
    if bad.any():
        n, m, k = np.argwhere(bad)[0]
        raise ScoringError(
            f"logits row {n} (member {m}, class {k}) is {out[n, m, k]}: NaN and +inf logits "
            "have no defined probabilities"
        )
    dead = np.all(np.isneginf(out), axis=2)
    if dead.any():
        n, m = np.argwhere(dead)[0]
        raise ScoringError(
            f"logits row {n} (member {m}) is -inf for all {out.shape[2]} classes: "
            "no probability distribution"
        )
    return out


def validate_embeddings(emb: NDArray[np.generic], dim: int, n_rows: int) -> NDArray[np.float32]:
    """``[N, D]`` float32 C-contiguous embeddings, or ``ScoringError`` naming the bad row."""
    arr = np.asarray(emb)
    if arr.ndim != 2 or arr.shape != (n_rows, dim):
        raise ScoringError(
            f"embeddings must be [N={n_rows}, D={dim}] to match the logits and the scoring "
            f"statistics, got shape {arr.shape}"
        )
    out = np.ascontiguousarray(arr, dtype=np.float32)
    bad = ~np.isfinite(out)
    if bad.any():
        n, d = np.argwhere(bad)[0]
        raise ScoringError(f"embeddings row {n} (component {d}) is {out[n, d]}: not finite")
    return out


def unit_rows(emb: NDArray[np.float32]) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    """L2-normalised rows (norm taken in float64) and a mask of the zero rows (left at 0)."""
    norms = np.linalg.norm(emb.astype(np.float64), axis=1)
    zero = norms == 0.0
    safe = np.where(zero, 1.0, norms)
    return np.ascontiguousarray(emb / safe[:, None], dtype=np.float32), zero


def raw_scores(
    backend: Backend, logits: NDArray[np.float32], emb: NDArray[np.float32], k: int
) -> dict[str, NDArray[np.float64]]:
    """All raw scores by name (``SCORE_NAMES``), each ``[N]`` float64, from validated inputs."""
    ls = backend.logit_scores(logits)
    maha = backend.mahalanobis(emb)
    unit, zero = unit_rows(emb)
    sims = backend.knn_similarities(unit)
    knn = 1.0 - sims[:, k - 1].astype(np.float64)
    knn[zero] = 2.0
    # round-off may push a unit-vector similarity a hair past +-1
    np.clip(knn, 0.0, 2.0, out=knn)
    columns = (ls[:, 0], ls[:, 1], ls[:, 2], ls[:, 3], maha, knn)
    return {name: np.ascontiguousarray(col) for name, col in zip(SCORE_NAMES, columns, strict=True)}
