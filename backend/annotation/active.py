"""Active learning: the order in which unlabelled frames are worth a person's time.

Pure numpy, no I/O. The champion's runtime gives, per frame, its *candidates* (the objects it
found) with an embedding and an uncertainty each; this module turns them into one value per
frame and a greedy, batch-aware order over a pool of frames, in the spirit of CRB (concise
labels by uncertainty, representative prototypes by embedding diversity, a balance term) and
KECOR for 3D detection.

Units: embeddings are in the model's embedding units, but only their direction is used:
distances are cosine distances ``1 - cos`` in [0, 2] (the geometry of the vehicle's ``knn``
score). Uncertainty is in the units of the chosen score (nats for BALD ``mutual_info`` and
``entropy``, dimensionless for ``msp``), never negative. Every normalised term and the value
are dimensionless.

**A frame** (``frame_features``) is represented by its most uncertain candidate (ties: the
first): its uncertainty ``U_f`` (0 for a frame without candidates), its unit embedding ``e_f``
and its predicted class, the frame's *kind*. A frame is worth labelling for the object the
model is least sure of; two frames of the same object (a near-duplicate) share ``e_f``.

**The order** (``active_order``) is built one frame at a time. Position ``r`` belongs to batch
``r // batch_size``. Every frame still unplaced gets::

    value = (w_u * u_f + w_d * d_f) / (1 + w_k * n_k)

* ``u_f = U_f / max U`` over the pool, in [0, 1] (0 when every frame has ``U = 0``);
* ``d_f = dist_f / max dist`` over the unplaced frames with an embedding, where ``dist_f`` is the
  cosine distance of ``e_f`` to the nearest frame placed so far or *anchor* (frames being
  labelled now): 1 for every frame while nothing is placed or anchored, 0 for a frame without
  an embedding (it shows nothing to learn from) and for all when every distance is 0;
* ``n_k`` the frames of the frame's kind already in the current batch.

On top of the soft ``w_k`` term a hard cap: while a frame of another kind is unplaced, a kind
that holds ``max(1, floor(max_kind_share * batch_size))`` frames of the batch gets no more, so
one predicted class cannot fill a batch (a frame without an embedding, which shows nothing to
learn from, never takes a place the cap frees: it waits for the frames that show something). The highest value is placed next; ties go to the lowest
input index (callers pass frames oldest first). Diversity is measured against every earlier
position, so a near-duplicate of a placed frame goes behind the distinct ones of any batch.

Cost: O(F^2 D) for F frames of dimension D (one matrix-vector product per position).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from backend.errors import InvalidInputError
from core.classes import BACKGROUND

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]

#: scores of the vehicle's catalogue (``agent.scoring.SCORE_NAMES``) usable as uncertainty: the
#: never-negative ones (``energy`` is a signed free energy and is left out)
UNCERTAINTY_SCORES: Final = ("mutual_info", "entropy", "msp", "mahalanobis", "knn")
#: the kind of a frame without candidates
NO_KIND: Final = ""


@dataclass(frozen=True)
class Candidates:
    """The candidates of one frame: ``embeddings`` (N, D) float32, ``uncertainty`` (N,)
    float64 >= 0 (units of the score), ``kinds`` (N,) predicted class names."""

    embeddings: F32
    uncertainty: F64
    kinds: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.uncertainty.shape[0])


def select_candidates(
    kinds: Sequence[str],
    uncertainty: npt.ArrayLike,
    embeddings: npt.ArrayLike,
    *,
    foreground_only: bool,
    what: str = "frame",
) -> Candidates:
    """The candidates of one frame from the runtime's detections: every detection, or with
    ``foreground_only`` those not called ``background`` (what a task shows as pre-labels).
    InvalidInputError, naming ``what``, for mismatched lengths or a negative or non-finite
    uncertainty."""
    u = np.asarray(uncertainty, dtype=np.float64).reshape(-1)
    emb = np.asarray(embeddings, dtype=np.float32)
    n = len(kinds)
    if emb.ndim != 2 or emb.shape[0] != n or u.shape[0] != n:
        raise InvalidInputError(
            f"{what}: {n} kinds, {u.shape[0]} uncertainties and embeddings of shape "
            f"{emb.shape} do not describe the same candidates"
        )
    if n and (not np.isfinite(u).all() or float(u.min()) < 0.0):
        bad = int(np.flatnonzero(~np.isfinite(u) | (u < 0.0))[0])
        raise InvalidInputError(
            f"{what}: candidate {bad} has uncertainty {float(u[bad])!r}; it must be finite and >= 0"
        )
    if not np.isfinite(emb).all():
        bad = int(np.flatnonzero(~np.isfinite(emb).all(axis=1))[0])
        raise InvalidInputError(f"{what}: candidate {bad} has a non-finite embedding")
    keep = np.array([not (foreground_only and k == BACKGROUND) for k in kinds], dtype=bool)
    return Candidates(
        np.ascontiguousarray(emb[keep]),
        u[keep],
        tuple(k for k, kept in zip(kinds, keep, strict=True) if kept),
    )


@dataclass(frozen=True)
class FrameFeature:
    """One frame as the order sees it (module docstring): ``uncertainty`` (units of the score),
    ``embedding`` (D,) unit float32 or None (no candidate, or a zero embedding), ``kind``
    (``NO_KIND`` without candidates) and how many ``candidates`` it had."""

    uncertainty: float
    embedding: F32 | None
    kind: str
    candidates: int


def frame_feature(candidates: Candidates) -> FrameFeature:
    """The frame's most uncertain candidate (ties: the first) stands for it."""
    if len(candidates) == 0:
        return FrameFeature(0.0, None, NO_KIND, 0)
    best = int(np.argmax(candidates.uncertainty))
    vector = candidates.embeddings[best].astype(np.float64)
    norm = float(np.linalg.norm(vector))
    unit = (vector / norm).astype(np.float32) if norm > 0.0 else None
    return FrameFeature(
        float(candidates.uncertainty[best]), unit, candidates.kinds[best], len(candidates)
    )


@dataclass(frozen=True)
class ActiveWeights:
    """The order's terms (module docstring): weights of uncertainty, diversity and the kind
    balance (dimensionless, >= 0), the hard cap's share of a batch (0, 1] and the batch size."""

    uncertainty: float = 1.0
    diversity: float = 1.0
    kind_balance: float = 0.5
    max_kind_share: float = 0.5
    batch_size: int = 20

    def __post_init__(self) -> None:
        for name in ("uncertainty", "diversity", "kind_balance"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise InvalidInputError(
                    f"active weight {name} must be finite and >= 0, got {value}"
                )
        if not 0.0 < self.max_kind_share <= 1.0:
            raise InvalidInputError(f"max_kind_share must be in (0, 1], got {self.max_kind_share}")
        if self.batch_size < 1:
            raise InvalidInputError(f"batch_size must be >= 1, got {self.batch_size}")

    @property
    def kind_cap(self) -> int:
        """Frames of one kind a batch takes while another kind waits."""
        return max(1, math.floor(self.max_kind_share * self.batch_size))


@dataclass(frozen=True)
class ActiveOrder:
    """The order of F frames and, per input frame, the terms it was placed with.

    ``order`` (F,) input indices, most valuable first; ``rank`` (F,) each frame's position;
    ``batch`` (F,) ``rank // batch_size``; ``uncertainty`` (F,) ``U_f`` in the score's units;
    ``uncertainty_norm``, ``diversity`` (F,) in [0, 1]; ``distance`` (F,) cosine distance to
    the nearest earlier frame or anchor when placed (NaN: nothing to compare, or no embedding);
    ``same_kind`` (F,) frames of its kind already in its batch; ``value`` (F,) as placed;
    ``kinds`` (F,)."""

    order: I64
    rank: I64
    batch: I64
    uncertainty: F64
    uncertainty_norm: F64
    diversity: F64
    distance: F64
    same_kind: I64
    value: F64
    kinds: tuple[str, ...]


def _unit_rows(vectors: F64) -> F64:
    norms = np.linalg.norm(vectors, axis=1)
    keep = norms > 0.0
    out: F64 = vectors[keep] / norms[keep, None]
    return out


def _stack(frames: Sequence[FrameFeature], anchors: Sequence[F32]) -> tuple[F64, B, F64]:
    dims = {f.embedding.shape[0] for f in frames if f.embedding is not None}
    dims |= {np.asarray(a).reshape(-1).shape[0] for a in anchors}
    if len(dims) > 1:
        raise InvalidInputError(f"frame and anchor embeddings differ in dimension: {sorted(dims)}")
    dim = dims.pop() if dims else 0
    emb = np.zeros((len(frames), dim))
    has = np.zeros(len(frames), dtype=bool)
    for i, f in enumerate(frames):
        if f.embedding is not None:
            emb[i] = f.embedding
            has[i] = True
    emb[has] = _unit_rows(emb[has]) if has.any() else emb[has]
    anchor = np.asarray([np.asarray(a, np.float64).reshape(-1) for a in anchors]).reshape(-1, dim)
    return emb, has, _unit_rows(anchor) if anchor.size else anchor


def _cosine_distance(emb: F64, to: F64) -> F64:
    """(F,) cosine distance of each unit row of ``emb`` to the unit vector ``to``, in [0, 2]."""
    out: F64 = np.clip(1.0 - emb @ to, 0.0, 2.0)
    return out


def active_order(
    frames: Sequence[FrameFeature],
    weights: ActiveWeights | None = None,
    *,
    anchors: Sequence[F32] = (),
) -> ActiveOrder:
    """The greedy, batch-aware order of ``frames`` (module docstring); ``anchors`` are the
    embeddings of frames being labelled now (placed before all of these)."""
    w = weights or ActiveWeights()
    n = len(frames)
    emb, has, anchor = _stack(frames, anchors)
    u = np.array([f.uncertainty for f in frames], dtype=np.float64)
    if n and (not np.isfinite(u).all() or float(u.min()) < 0.0):
        raise InvalidInputError(f"frame uncertainties must be finite and >= 0, got {u.tolist()}")
    u_max = float(u.max()) if n else 0.0
    u_norm = u / u_max if u_max > 0.0 else np.zeros(n)
    kinds = tuple(f.kind for f in frames)
    names, codes = np.unique(np.array(kinds, dtype=str), return_inverse=True)
    codes = codes.reshape(-1).astype(np.int64)

    nearest = np.full(n, np.inf)
    for a in anchor:
        nearest[has] = np.minimum(nearest[has], _cosine_distance(emb[has], a))

    order = np.zeros(n, dtype=np.int64)
    out_div, out_dist, out_val = np.zeros(n), np.full(n, np.nan), np.zeros(n)
    out_same = np.zeros(n, dtype=np.int64)
    remaining = np.ones(n, dtype=bool)
    counts = np.zeros(len(names), dtype=np.int64)
    cap = w.kind_cap
    for r in range(n):
        if r % w.batch_size == 0:
            counts[:] = 0
        open_with = remaining & has
        top = float(nearest[open_with].max()) if open_with.any() else 0.0
        if math.isinf(top):  # nothing placed or anchored yet: every frame is as new
            diversity = np.where(has, 1.0, 0.0)
        elif top > 0.0:
            diversity = np.where(has, nearest / top, 0.0)
        else:
            diversity = np.zeros(n)
        same = counts[codes]
        value = (w.uncertainty * u_norm + w.diversity * diversity) / (1.0 + w.kind_balance * same)
        eligible = remaining & has & (same < cap)
        if not eligible.any():  # only capped kinds (or frames with nothing to show) are left
            eligible = remaining & has if (remaining & has).any() else remaining
        pick = int(np.argmax(np.where(eligible, value, -np.inf)))
        order[r] = pick
        out_div[pick], out_val[pick], out_same[pick] = diversity[pick], value[pick], same[pick]
        if has[pick] and math.isfinite(nearest[pick]):
            out_dist[pick] = nearest[pick]
        remaining[pick] = False
        counts[codes[pick]] += 1
        if has[pick]:
            nearest[has] = np.minimum(nearest[has], _cosine_distance(emb[has], emb[pick]))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n, dtype=np.int64)
    return ActiveOrder(
        order=order,
        rank=rank,
        batch=rank // w.batch_size,
        uncertainty=u,
        uncertainty_norm=u_norm,
        diversity=out_div,
        distance=out_dist,
        same_kind=out_same,
        value=out_val,
        kinds=kinds,
    )


def strict_priorities(values: Sequence[float], step: float = 1e-6) -> list[float]:
    """``values`` sorted from high to low, each lowered where needed so every one is at least
    ``step`` below the one before: the priorities the k-th frame of an order takes, so a queue
    sorted by priority follows the order exactly while keeping the scale of ``values``."""
    out: list[float] = []
    for v in sorted((float(x) for x in values), reverse=True):
        out.append(v if not out or v <= out[-1] - step else out[-1] - step)
    return out
