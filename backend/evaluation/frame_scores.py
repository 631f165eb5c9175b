"""What one model did on each frame, as flat arrays a frame bootstrap can reweight.

Pure numpy over ``algo.FrameEval`` (foreground detections and ground truth, sensor frame).
Matching is BEV IoU, greedy by score (``algo.match_frame``), at the IoU threshold of the object's
class (``thresholds``; a class without one gets ``default_threshold``).

Rules, per model:

- **AP of class k** (for k in ``evaluated``, the classes either compared model knows): detections
  named k against boxes of k; boxes of classes nobody evaluates act as DontCare (``algo``).
- **Recall of an object** whose class the model *knows*: a detection *named that class* matches it.
  Of an object whose class the model does *not* know (a rare class not yet promoted): *any*
  foreground detection overlapping it at the class's threshold counts (the model saw an
  obstacle; what it calls it is not asked of it). A candidate that learns the class is held to
  the stricter rule.
- **False positive**: a foreground detection that overlaps no ground-truth box of any class at the
  threshold of the detection's class.
- **Calibration**: each foreground detection's score against whether it is a true positive of
  its class (DontCare overlaps left out).

Everything beyond ``max_range`` metres (horizontal) is left out, detections and boxes alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from backend.evaluation.algo import FrameEval, match_frame

F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]
I64 = npt.NDArray[np.int64]
IouFn = Callable[[npt.ArrayLike, npt.ArrayLike], F64]
#: BEV IoU threshold of a class with no entry in the thresholds (small rare objects: as people)
DEFAULT_IOU_THRESHOLD = 0.25


def threshold_of(thresholds: Mapping[str, float], cls: str) -> float:
    """The matching threshold of ``cls``: its own, else ``DEFAULT_IOU_THRESHOLD``."""
    return float(thresholds.get(cls, DEFAULT_IOU_THRESHOLD))


@dataclass(frozen=True)
class ClassDetections:
    """Detections named one class over all frames (DontCare overlaps removed): frame index,
    score, true positive, horizontal range (m) of the detection and of its matched box (nan)."""

    frame: I64
    score: F64
    tp: B
    range_m: F64
    matched_range_m: F64


@dataclass(frozen=True)
class ModelScores:
    """One model on F frames. ``object_hit`` follows the object order of ``ObjectTable``."""

    known: tuple[str, ...]
    object_hit: B
    detections: dict[str, ClassDetections]
    fg_frame: I64
    fg_score: F64
    fg_correct: B
    fp_per_frame: F64


@dataclass(frozen=True)
class ObjectTable:
    """Every ground-truth object within range: frame index, class, range (m), index in frame."""

    frame: I64
    classes: tuple[str, ...]
    range_m: F64
    index_in_frame: I64

    @property
    def class_array(self) -> npt.NDArray[np.str_]:
        return np.array(self.classes, dtype=str)


def _ranges(boxes: F64) -> F64:
    return np.hypot(boxes[:, 0], boxes[:, 1]) if boxes.shape[0] else np.zeros(0)


def object_table(frames: Sequence[FrameEval], max_range: float) -> ObjectTable:
    """The objects of ``frames`` within ``max_range``, in (frame, object) order."""
    fr: list[int] = []
    cls: list[str] = []
    rng: list[float] = []
    idx: list[int] = []
    for f_i, f in enumerate(frames):
        r = _ranges(f.gt_boxes)
        for j in np.flatnonzero(r <= max_range):
            fr.append(f_i)
            cls.append(f.gt_classes[j])
            rng.append(float(r[j]))
            idx.append(int(j))
    return ObjectTable(
        np.array(fr, dtype=np.int64), tuple(cls), np.array(rng), np.array(idx, dtype=np.int64)
    )


def _iou(fn: IouFn, a: F64, b: F64) -> F64:
    if a.shape[0] == 0 or b.shape[0] == 0:
        return np.zeros((a.shape[0], b.shape[0]))
    return fn(a, b)


def score_model(
    frames: Sequence[FrameEval],
    known: Sequence[str],
    evaluated: Sequence[str],
    thresholds: Mapping[str, float],
    iou_fn: IouFn,
    max_range: float,
) -> ModelScores:
    """Score one model's detections on ``frames`` by the rules of the module docstring.
    ``known`` are the model's foreground classes, ``evaluated`` those of every compared model."""
    known_set, eval_set = set(known), set(evaluated)
    hits: list[B] = []
    det_parts: dict[str, list[tuple[I64, F64, B, F64, F64]]] = {k: [] for k in evaluated}
    fg_frame: list[I64] = []
    fg_score: list[F64] = []
    fg_correct: list[B] = []
    fp = np.zeros(len(frames))
    for f_i, f in enumerate(frames):
        g_rng, d_rng = _ranges(f.gt_boxes), _ranges(f.det_boxes)
        g_in, d_in = g_rng <= max_range, d_rng <= max_range
        gt_cls = np.array(f.gt_classes, dtype=str)
        det_cls = np.array(f.det_classes, dtype=str)
        hit = np.zeros(len(f.gt_classes), dtype=bool)
        correct = np.zeros(len(f.det_classes), dtype=bool)
        considered = d_in.copy()
        for k in evaluated:
            d_sel = np.flatnonzero((det_cls == k) & d_in)
            g_sel = np.flatnonzero(g_in & ((gt_cls == k) | ~np.isin(gt_cls, list(eval_set))))
            ignored = gt_cls[g_sel] != k
            iou = _iou(iou_fn, f.det_boxes[d_sel], f.gt_boxes[g_sel])
            tp, ign, matched = match_frame(
                iou, f.det_scores[d_sel], threshold_of(thresholds, k), ignored
            )
            keep = ~ign
            m_rng = np.full(d_sel.size, np.nan)
            m_rng[tp] = g_rng[g_sel[matched[tp]]]
            det_parts[k].append(
                (
                    np.full(int(keep.sum()), f_i, dtype=np.int64),
                    f.det_scores[d_sel][keep],
                    tp[keep],
                    d_rng[d_sel][keep],
                    m_rng[keep],
                )
            )
            correct[d_sel[tp]] = True
            considered[d_sel[ign]] = False
            if k in known_set:
                hit[g_sel[matched[tp]]] = True
        # objects of classes this model cannot name: any foreground detection that overlaps
        for u in sorted(set(gt_cls[g_in]) - known_set):
            g_sel = np.flatnonzero(g_in & (gt_cls == u))
            d_sel = np.flatnonzero(d_in)
            iou = _iou(iou_fn, f.det_boxes[d_sel], f.gt_boxes[g_sel])
            tp, _, matched = match_frame(
                iou, f.det_scores[d_sel], threshold_of(thresholds, u), np.zeros(g_sel.size, bool)
            )
            hit[g_sel[matched[tp]]] = True
        # false positives: overlapping nothing at the threshold of their own class
        d_sel = np.flatnonzero(d_in)
        iou_all = _iou(iou_fn, f.det_boxes[d_sel], f.gt_boxes[g_in])
        best = iou_all.max(axis=1) if iou_all.shape[1] else np.zeros(d_sel.size)
        limits = np.array([threshold_of(thresholds, c) for c in det_cls[d_sel]])
        fp[f_i] = float((best < limits).sum())
        sel = np.flatnonzero(considered)
        fg_frame.append(np.full(sel.size, f_i, dtype=np.int64))
        fg_score.append(f.det_scores[sel])
        fg_correct.append(correct[sel])
        hits.append(hit[g_in])
    detections = {
        k: ClassDetections(*(np.concatenate(col) for col in zip(*parts, strict=True)))
        if parts
        else ClassDetections(
            np.zeros(0, np.int64), np.zeros(0), np.zeros(0, bool), np.zeros(0), np.zeros(0)
        )
        for k, parts in det_parts.items()
    }
    return ModelScores(
        known=tuple(known),
        object_hit=np.concatenate(hits) if hits else np.zeros(0, dtype=bool),
        detections=detections,
        fg_frame=np.concatenate(fg_frame) if fg_frame else np.zeros(0, np.int64),
        fg_score=np.concatenate(fg_score) if fg_score else np.zeros(0),
        fg_correct=np.concatenate(fg_correct) if fg_correct else np.zeros(0, bool),
        fp_per_frame=fp,
    )
