"""Detection metrics, pure numpy: matching, average precision, recall by distance band.

Average precision is the interpolated AP at 40 recall points (KITTI's ``R40``, Simonelli et al.
2019): the mean over r in {1/40, ..., 40/40} of the highest precision reached at a recall >= r
(0 when r is never reached). Matching is greedy per frame in descending score order: a detection
takes the unmatched ground-truth box of its class with the highest IoU if that IoU reaches the
threshold (true positive), else it is a false positive. Ground-truth objects of classes that are
not evaluated (rare classes, unknown names) are *ignored*: a detection that overlaps one at the
threshold is neither true nor false positive, as KITTI treats DontCare regions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from backend.errors import EvaluationError

F64 = npt.NDArray[np.float64]
IouFn = Callable[[npt.ArrayLike, npt.ArrayLike], F64]
RECALL_POINTS = 40
#: distance bands (metres, horizontal range from the sensor) for recall reports
DISTANCE_BANDS: tuple[tuple[float, float], ...] = ((0.0, 20.0), (20.0, 40.0), (40.0, 70.0))


@dataclass(frozen=True)
class FrameEval:
    """One frame: detections (boxes (D, 7), class names (D,), scores (D,)) and ground truth
    (boxes (G, 7), class names (G,)), all in the sensor frame."""

    det_boxes: F64
    det_classes: tuple[str, ...]
    det_scores: F64
    gt_boxes: F64
    gt_classes: tuple[str, ...]


def json_safe(value: Any) -> Any:
    """``value`` with every NaN float replaced by None: JSON has no NaN (a class with no
    ground truth has no AP, and a report says so with null)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def average_precision(
    scores: npt.ArrayLike, tp: npt.ArrayLike, num_gt: int, points: int = RECALL_POINTS
) -> float:
    """Interpolated AP at ``points`` recall levels of detections with ``scores`` and
    true-positive flags ``tp`` against ``num_gt`` objects; nan when ``num_gt`` is 0."""
    if num_gt <= 0:
        return float("nan")
    s = np.asarray(scores, dtype=np.float64)
    t = np.asarray(tp, dtype=bool)
    if s.shape != t.shape:
        raise EvaluationError(f"scores {s.shape} and tp flags {t.shape} differ in shape")
    if s.size == 0:
        return 0.0
    order = np.argsort(-s, kind="stable")
    ctp = np.cumsum(t[order])
    cfp = np.cumsum(~t[order])
    recall = ctp / num_gt
    precision = ctp / (ctp + cfp)
    # precision envelope: best precision at this recall or beyond
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    levels = np.arange(1, points + 1) / points
    idx = np.searchsorted(recall, levels - 1e-12, side="left")
    reached = idx < recall.size
    values = np.zeros(points)
    values[reached] = envelope[idx[reached]]
    return float(values.mean())


def match_frame(
    iou: F64, scores: F64, threshold: float, ignored_gt: npt.NDArray[np.bool_]
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_], npt.NDArray[np.int64]]:
    """Greedy matching of D detections to G boxes given ``iou`` (D, G).

    Returns ``tp`` (D,), ``ignore`` (D,) (overlaps an ignored box only) and the matched box of
    each detection (-1 if none).
    """
    d, g = iou.shape
    tp = np.zeros(d, dtype=bool)
    ignore = np.zeros(d, dtype=bool)
    matched = np.full(d, -1, dtype=np.int64)
    taken = np.zeros(g, dtype=bool)
    for i in np.argsort(-scores, kind="stable"):  # over detections, not points
        if g == 0:
            break
        free = np.where(taken | ignored_gt, -1.0, iou[i])
        j = int(free.argmax())
        if free[j] >= threshold:
            tp[i] = True
            taken[j] = True
            matched[i] = j
        elif ignored_gt.any() and iou[i, ignored_gt].max() >= threshold:
            ignore[i] = True
    return tp, ignore, matched


def _in_range(boxes: F64, max_range: float) -> npt.NDArray[np.bool_]:
    return np.hypot(boxes[:, 0], boxes[:, 1]) <= max_range


def evaluate_class(
    frames: Sequence[FrameEval],
    class_name: str,
    evaluated: Sequence[str],
    iou_fn: IouFn,
    threshold: float,
    max_range: float,
) -> dict[str, float | int]:
    """AP, recall and counts of one class at one IoU ``threshold``; also recall per band."""
    all_scores: list[F64] = []
    all_tp: list[npt.NDArray[np.bool_]] = []
    num_gt = 0
    band_total = np.zeros(len(DISTANCE_BANDS), dtype=np.int64)
    band_hit = np.zeros(len(DISTANCE_BANDS), dtype=np.int64)
    for f in frames:
        det = np.array([c == class_name for c in f.det_classes], dtype=bool) & _in_range(
            f.det_boxes, max_range
        )
        gt_range = _in_range(f.gt_boxes, max_range)
        is_cls = np.array([c == class_name for c in f.gt_classes], dtype=bool)
        other_eval = np.array([c in evaluated for c in f.gt_classes], dtype=bool)
        # boxes of this class, and of classes nobody evaluates (rare) that act as DontCare
        keep_gt = gt_range & (is_cls | ~other_eval)
        gt = f.gt_boxes[keep_gt]
        ignored = ~is_cls[keep_gt]
        db, ds = f.det_boxes[det], f.det_scores[det]
        iou = (
            iou_fn(db, gt) if db.shape[0] and gt.shape[0] else np.zeros((db.shape[0], gt.shape[0]))
        )
        tp, ign, matched = match_frame(iou, ds, threshold, ignored)
        all_scores.append(ds[~ign])
        all_tp.append(tp[~ign])
        num_gt += int((~ignored).sum())
        dist = np.hypot(gt[:, 0], gt[:, 1])
        hit = np.zeros(gt.shape[0], dtype=bool)
        hit[matched[matched >= 0]] = True
        for b, (lo, hi) in enumerate(DISTANCE_BANDS):
            in_band = ~ignored & (dist >= lo) & (dist < hi)
            band_total[b] += int(in_band.sum())
            band_hit[b] += int((in_band & hit).sum())
    scores = np.concatenate(all_scores) if all_scores else np.zeros(0)
    tps = np.concatenate(all_tp) if all_tp else np.zeros(0, dtype=bool)
    result: dict[str, float | int] = {
        "ap": average_precision(scores, tps, num_gt),
        "recall": float(tps.sum() / num_gt) if num_gt else float("nan"),
        "num_gt": num_gt,
        "num_det": int(scores.size),
        "true_positives": int(tps.sum()),
    }
    for b, (lo, hi) in enumerate(DISTANCE_BANDS):
        key = f"recall_{lo:g}_{hi:g}m"
        result[key] = float(band_hit[b] / band_total[b]) if band_total[b] else float("nan")
        result[f"num_gt_{lo:g}_{hi:g}m"] = int(band_total[b])
    return result


def evaluate(
    frames: Sequence[FrameEval],
    thresholds: Mapping[str, Sequence[float]],
    iou_fns: Mapping[str, IouFn],
    max_range: float = 70.0,
) -> dict[str, dict[str, dict[str, dict[str, float | int]]]]:
    """``result[class][iou_kind][str(threshold)]`` = ``evaluate_class`` for every class of
    ``thresholds`` (class -> IoU thresholds) and every IoU function of ``iou_fns`` (e.g. bev, 3d)."""
    evaluated = tuple(thresholds)
    out: dict[str, dict[str, dict[str, dict[str, float | int]]]] = {}
    for cls, ths in thresholds.items():
        out[cls] = {
            kind: {f"{t:g}": evaluate_class(frames, cls, evaluated, fn, t, max_range) for t in ths}
            for kind, fn in iou_fns.items()
        }
    return out
