"""One turn of the loop at a label budget, offline: which pool frames a policy sends for labelling,
what the simulated crowd's labelling model makes of them, and the labelled dataset written in the
on-disk layout (``core.formats.dataset``) for the retraining run.

Pool frames are addressed by ``(drive, index)`` into a list of cached drives (``DriveScores``, one
per drive, with the drive's folder). Policies rank frames; the budget ``k`` is a frame count over
the whole pool:

- ``capture``: the frame score is the maximum ``energy`` score over the detections the model does
  not call background (``energy_fg``, the best single policy of ``bench_events`` with the shipped
  model; with the clean-``hdl64`` model before it, ``msp`` was); frames
  are taken best first, skipping a frame whose trigger (the detection holding the maximum, world
  x, y) lies within ``PlaceDedup.radius_m`` of a taken trigger of the same drive within
  ``PlaceDedup.window_frames`` frames (the selector's one-upload-per-place rule).
- ``combined``: the daemon's fused frame score (``Scorer.frame_score(...).surprise``), best first,
  no place rule.
- ``active``: the backend's active-learning order (``backend.annotation.active``, the order the
  labelling queue follows after each new model): each frame stands for its most uncertain
  candidate (``ACTIVE_SCORE``, BALD mutual information of the ensemble, over the foreground
  candidates by default), frames are placed greedily by uncertainty plus cosine diversity of the
  candidates' embeddings with a class-balance term per batch; the first ``k`` are taken. The
  embeddings come from running the same perception again over the pool (``embed_drive``; the
  cached ``DriveScores`` keep none), checked detection for detection against the cached records.
- ``random``: ``k`` frames drawn uniformly without replacement.

Labels are the crowd's labelling model (``simulators.crowd.labelling.label_boxes``) applied to the
drive's truth with one annotator profile; point counts of the drawn boxes are recounted in the
frame's points (``backend.training.sources.count_points``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from agent.scoring import SCORE_NAMES, DetectionScores, Scorer
from backend.annotation.active import (
    ActiveWeights,
    FrameFeature,
    active_order,
    frame_feature,
    select_candidates,
)
from backend.training.sources import count_points
from benchmarks.selection_drives import DriveScores
from benchmarks.selection_events import PlaceDedup, scores_and_places
from core.classes import is_rare
from core.formats.dataset import Dataset, DatasetWriter, FrameLabels, ObjectLabel
from simulators.crowd.labelling import label_boxes
from simulators.crowd.profiles import Profile
from simulators.crowd.truth import FrameTruth

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
#: a pool frame: (drive position in the pool, frame index in that drive)
FrameRef = tuple[int, int]
POLICIES = ("capture", "combined", "active", "random")
CAPTURE_SCORE = "energy"
#: the active policy's per-candidate uncertainty (the backend's ``[active] score`` default)
ACTIVE_SCORE = "mutual_info"


@dataclass(frozen=True)
class PoolDrive:
    """One cached drive of the pool: its folder, what perception and scoring made of it and,
    for the active policy, every detection's embedding (``[D, E]`` float32 in ``scores``'
    detection order; None when not computed)."""

    path: Path
    scores: DriveScores
    embeddings: F32 | None = None


def capture_scores(drive: DriveScores) -> F64:
    """Per detection: ``CAPTURE_SCORE`` on foreground detections, ``-inf`` on background ones."""
    i = SCORE_NAMES.index(CAPTURE_SCORE)
    out: F64 = np.where(drive.class_ids != 0, drive.raw[:, i], -np.inf)
    return out


def capture_select(pool: Sequence[PoolDrive], k: int, dedup: PlaceDedup) -> list[FrameRef]:
    """Up to ``k`` frames, best ``capture_scores`` first, one per place (module docstring)."""
    ranked: list[tuple[float, int, int]] = []
    places: list[F64] = []
    for d, drive in enumerate(pool):
        ds = drive.scores
        scores, where = scores_and_places(
            capture_scores(ds), ds, np.ones(ds.class_ids.size, dtype=bool)
        )
        places.append(where)
        ranked += [(float(s), d, f) for f, s in enumerate(scores) if math.isfinite(s)]
    ranked.sort(key=lambda t: (-t[0], t[1], t[2]))
    taken: list[FrameRef] = []
    r2 = dedup.radius_m**2
    for _, d, f in ranked:
        if len(taken) == k:
            break
        p = places[d][f]
        clash = any(
            d == d2
            and abs(f - f2) <= dedup.window_frames
            and float(((places[d2][f2] - p) ** 2).sum()) <= r2
            for d2, f2 in taken
        )
        if not clash:
            taken.append((d, f))
    return taken


def combined_scores(drive: DriveScores, scorer: Scorer) -> F64:
    """The daemon's fused frame score (surprise, ``-log10 p``) of every frame."""
    out = np.full(drive.frames, -np.inf)
    for f in range(drive.frames):
        lo, hi = int(drive.offsets[f]), int(drive.offsets[f + 1])
        if hi == lo:
            continue
        det = DetectionScores(
            raw={n: drive.raw[lo:hi, i] for i, n in enumerate(SCORE_NAMES)},
            tail={n: drive.tail[lo:hi, i] for i, n in enumerate(SCORE_NAMES)},
        )
        out[f] = scorer.frame_score(det).surprise
    return out


def top_k(per_drive: Sequence[F64], k: int) -> list[FrameRef]:
    """The ``k`` best finite-scored frames of the pool (ties by drive, then frame)."""
    ranked = [(float(s), d, f) for d, scores in enumerate(per_drive) for f, s in enumerate(scores)]
    ranked = sorted((t for t in ranked if math.isfinite(t[0])), key=lambda t: (-t[0], t[1], t[2]))
    return [(d, f) for _, d, f in ranked[:k]]


def embed_drive(path: Path, frames: int, perception: Any, offsets: npt.NDArray[np.int64]) -> F32:
    """The embedding of every detection of the first ``frames`` frames at ``path`` (``[D, E]``
    float32, the order of the drive's ``DriveScores``); ValueError when a frame's detection
    count differs from ``offsets`` (the records were made by another model or runtime)."""
    data = Dataset(path)
    parts: list[F32] = []
    for f, index in enumerate(tqdm(data.indices[:frames], desc=f"embed {path.name}", unit="frame")):
        dets = perception(data.points(index))
        expected = int(offsets[f + 1] - offsets[f])
        if len(dets) != expected:
            raise ValueError(
                f"{path} frame {index}: perception found {len(dets)} candidates, the cached "
                f"records {expected}"
            )
        if expected:
            parts.append(np.asarray(dets.embeddings, dtype=np.float32).reshape(expected, -1))
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)


def active_features(
    drive: PoolDrive, classes: Sequence[str], *, score: str, foreground_only: bool
) -> list[FrameFeature]:
    """Each frame of ``drive`` as the active order sees it (``backend.annotation.active``):
    candidates named by ``classes[class_id]``, uncertainty the raw ``score``."""
    ds, emb = drive.scores, drive.embeddings
    if emb is None or emb.shape[0] != ds.class_ids.size:
        raise ValueError(f"{drive.path}: embeddings of every detection are needed")
    names = np.asarray(classes, dtype=str)[ds.class_ids]
    column = SCORE_NAMES.index(score)
    out = []
    for f in range(ds.frames):
        lo, hi = int(ds.offsets[f]), int(ds.offsets[f + 1])
        candidates = select_candidates(
            tuple(str(n) for n in names[lo:hi]),
            ds.raw[lo:hi, column],
            emb[lo:hi],
            foreground_only=foreground_only,
            what=f"{drive.path.name} frame {f}",
        )
        out.append(frame_feature(candidates))
    return out


def active_select(
    pool: Sequence[PoolDrive],
    k: int,
    classes: Sequence[str],
    *,
    score: str = ACTIVE_SCORE,
    foreground_only: bool = True,
    weights: ActiveWeights | None = None,
) -> list[FrameRef]:
    """The first ``k`` frames of the active-learning order over the whole pool (module
    docstring); ties go to the earlier drive and frame."""
    refs: list[FrameRef] = []
    features: list[FrameFeature] = []
    for d, drive in enumerate(pool):
        mine = active_features(drive, classes, score=score, foreground_only=foreground_only)
        features += mine
        refs += [(d, f) for f in range(len(mine))]
    order = active_order(features, weights)
    return [refs[i] for i in order.order[:k].tolist()]


def random_select(pool: Sequence[PoolDrive], k: int, rng: np.random.Generator) -> list[FrameRef]:
    """``k`` pool frames uniformly without replacement."""
    refs = [(d, f) for d, drive in enumerate(pool) for f in range(drive.scores.frames)]
    rows = np.sort(rng.choice(len(refs), size=min(k, len(refs)), replace=False))
    return [refs[int(i)] for i in rows]


def rare_in_selection(
    pool: Sequence[PoolDrive], refs: Sequence[FrameRef], min_points: int
) -> dict[str, int]:
    """Truth rare objects with at least ``min_points`` LiDAR points in the selected frames, per
    class (what the budget could teach at most, before the crowd)."""
    out: dict[str, int] = {}
    for d, f in refs:
        ds = pool[d].scores
        lo, hi = int(ds.obj_offsets[f]), int(ds.obj_offsets[f + 1])
        for cls, pts in zip(ds.obj_class[lo:hi], ds.obj_points[lo:hi], strict=True):
            if int(pts) >= min_points:
                out[str(cls)] = out.get(str(cls), 0) + 1
    return dict(sorted(out.items()))


def label_selection(
    pool: Sequence[PoolDrive],
    refs: Sequence[FrameRef],
    profile: Profile,
    rng: np.random.Generator,
    out: Path,
    meta: dict[str, Any],
) -> dict[str, int]:
    """Write the selected frames with ``profile``'s labels into a dataset at ``out`` (frames
    renumbered 0..n-1, timestamps and poses kept); returns the labelled objects per class."""
    writer = DatasetWriter(out)
    counts: dict[str, int] = {}
    for n, (d, f) in enumerate(refs):
        ds = Dataset(pool[d].path)
        index = ds.indices[f]
        points, truth = ds.points(index), ds.labels(index)
        drawn = label_boxes(FrameTruth(truth.timestamp_ns, truth.objects, None), profile, rng)
        objects = count_points(
            points, [ObjectLabel(b.class_name, b.track_id, b.box, 0) for b in drawn]
        )
        writer.write_frame(points, FrameLabels(n, truth.timestamp_ns, truth.pose, objects))
        for o in objects:
            counts[o.class_name] = counts.get(o.class_name, 0) + 1
    writer.write_meta(meta)
    return dict(sorted(counts.items()))


def rare_only(counts: dict[str, int]) -> dict[str, int]:
    return {c: n for c, n in counts.items() if is_rare(c)}
