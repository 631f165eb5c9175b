"""Training candidates: the runtime's pre-processing on labelled frames, matched to ground truth.

A candidate takes the ground-truth object that holds most of its points (points inside the box
enlarged by ``margin`` metres) when that is at least ``min_fraction`` of its points; otherwise it
is background. Candidates of rare objects (``core.classes.RARE_CLASSES``) and of objects outside
the model's classes are dropped, not turned into background: labelling them background would teach
the model to be confident on exactly what it must be unsure of.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from agent.perception.decode import encode_boxes
from agent.perception.preprocess import Candidates, PipelineParams, Preprocessor
from backend.errors import TrainingError
from core.formats.dataset import LABELS_DIR, VELODYNE_DIR, Dataset, frame_name
from core.geometry import points_in_boxes

log = logging.getLogger(__name__)

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
#: label of a candidate that is left out of training (rare or unknown object)
DROPPED = -1


@dataclass(frozen=True)
class CandidateSet:
    """Candidates of many frames: inputs, labels (index into the model's classes, 0 =
    background) and box targets (refinement deltas, zeros for background)."""

    points: F32  # (C, P, 4)
    features: F32  # (C, F)
    boxes: F32  # (C, 7) fitted boxes, sensor frame
    labels: I64  # (C,)
    targets: F32  # (C, 7)
    frame: I64  # (C,) dataset frame index

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def take(self, rows: npt.NDArray[np.integer] | npt.NDArray[np.bool_]) -> CandidateSet:
        """The candidates selected by ``rows`` (indices or a mask)."""
        return CandidateSet(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, **{f.name: getattr(self, f.name) for f in fields(self)})
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> CandidateSet:
        with np.load(path) as data:
            return cls(**{f.name: data[f.name] for f in fields(cls)})

    @classmethod
    def concat(cls, parts: Sequence[CandidateSet]) -> CandidateSet:
        return cls(
            **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)}
        )


def label_candidates(
    cand: Candidates,
    gt_boxes: npt.ArrayLike,
    gt_classes: Sequence[str],
    classes: Sequence[str],
    points: F32,
    *,
    margin: float = 0.25,
    min_fraction: float = 0.5,
) -> tuple[I64, F32]:
    """Labels (C,) (class index, 0 = background, ``DROPPED``) and box targets (C, 7) of ``cand``.

    ``points`` is the frame the candidates came from (their ``point_index`` indexes it),
    ``gt_boxes`` (K, 7) and ``gt_classes`` (K,) its ground truth in the sensor frame.
    """
    n = len(cand)
    labels = np.zeros(n, dtype=np.int64)
    targets = np.zeros((n, 7), dtype=np.float32)
    gt = np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 7)
    if n == 0 or gt.shape[0] == 0:
        return labels, targets
    owner = points_in_boxes(points[cand.point_index], gt, margin)  # (N_kept,)
    cluster = np.repeat(np.arange(n), np.diff(cand.offsets))
    hit = owner >= 0
    votes = np.zeros((n, gt.shape[0]), dtype=np.int64)
    np.add.at(votes, (cluster[hit], owner[hit]), 1)
    best = votes.argmax(axis=1)
    fraction = votes[np.arange(n), best] / np.maximum(np.diff(cand.offsets), 1)
    matched = fraction >= min_fraction
    class_index = {c: i for i, c in enumerate(classes)}
    gt_label = np.array([class_index.get(c, DROPPED) for c in gt_classes], dtype=np.int64)
    labels[matched] = gt_label[best[matched]]
    fg = np.flatnonzero(labels > 0)
    targets[fg] = encode_boxes(cand.boxes[fg], gt[best[fg]])
    return labels, targets


def dataset_digest(roots: Sequence[str | os.PathLike[str]]) -> str:
    """SHA-256 over every frame file (points, then labels) of the datasets, in order."""
    h = hashlib.sha256()
    for root in roots:
        ds = Dataset(root)
        for index in ds.indices:
            name = frame_name(index)
            for path in (
                Path(root) / VELODYNE_DIR / f"{name}.bin",
                Path(root) / LABELS_DIR / f"{name}.json",
            ):
                if path.exists():
                    h.update(path.name.encode())
                    h.update(path.read_bytes())
    return h.hexdigest()


def build_candidates(
    root: str | os.PathLike[str],
    params: PipelineParams,
    classes: Sequence[str],
    *,
    cache: Path | None = None,
    progress: bool = True,
) -> CandidateSet:
    """Candidates of every labelled frame of the dataset ``root``; cached as ``.npz`` at
    ``cache`` (reused when it exists: name the cache after the dataset digest and settings)."""
    if cache is not None and cache.exists():
        log.info("reusing cached candidates %s", cache)
        return CandidateSet.load(cache)
    ds = Dataset(root)
    if len(ds) == 0:
        raise TrainingError(f"{root}: dataset has no frames")
    pre = Preprocessor(params)
    parts: list[CandidateSet] = []
    for index in tqdm(ds.indices, desc=f"candidates {Path(root).name}", disable=not progress):
        if not ds.has_labels(index):
            continue
        pts = ds.points(index)
        frame = ds.labels(index)
        cand = pre(pts)
        labels, targets = label_candidates(cand, frame.boxes(), frame.class_names(), classes, pts)
        keep = labels != DROPPED
        parts.append(
            CandidateSet(
                cand.points[keep],
                cand.features[keep],
                cand.boxes[keep],
                labels[keep],
                targets[keep],
                np.full(int(keep.sum()), index, dtype=np.int64),
            )
        )
    if not parts:
        raise TrainingError(f"{root}: no labelled frames (labels/ is empty)")
    result = CandidateSet.concat(parts)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        result.save(cache)
    return result
