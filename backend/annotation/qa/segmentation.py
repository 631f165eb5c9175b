"""Point-wise segmentation agreement: per-class IoU, mIoU and a weighted per-point consensus
(pure numpy, vectorised with ``bincount``; no loop over points).

Labels are per-point semantic class ids (``core.classes.POINT_CLASS_IDS``; a SemanticKITTI
``.label`` word carries the instance in its upper 16 bits: pass ``word & 0xFFFF``). Id 0,
``unlabelled``, is the ignore index.

Against a reference (gold, consensus, or the other annotator) the SemanticKITTI convention
holds: points the *reference* leaves unlabelled are left out; a point the candidate leaves
unlabelled where the reference has a class counts as a miss of that class. Per class ``c``:
``IoU_c = TP_c / (TP_c + FP_c + FN_c)``; mIoU is the mean over the classes present in either
labelling (after the exclusion), so a class neither side uses does not count as a perfect 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from backend.errors import QualityError
from core.classes import POINT_CLASS_IDS

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: ``unlabelled``: the ignore index of every function here
IGNORE_INDEX = POINT_CLASS_IDS["unlabelled"]
#: one past the largest known point class id: the default size of the confusion matrix
NUM_POINT_CLASSES = max(POINT_CLASS_IDS.values()) + 1


@dataclass(frozen=True)
class SegmentationIoU:
    """Per-class IoU of a candidate labelling against a reference.

    ``class_ids`` are the classes present in either labelling (ascending, ignore index
    excluded), ``iou`` their IoU in [0, 1], ``miou`` the mean (NaN when no class is present),
    ``confusion`` the full ``(C, C)`` count matrix (rows reference, columns candidate), and
    ``n_points`` the points compared (reference labelled).
    """

    class_ids: I64
    iou: F64
    miou: float
    confusion: I64
    n_points: int


def _labels(labels: npt.ArrayLike, name: str, num_classes: int) -> I64:
    arr = np.asarray(labels)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise QualityError(
            f"{name}: expected a 1-D integer label array, got {arr.dtype} {arr.shape}"
        )
    out = arr.astype(np.int64)
    if out.size and (out.min() < 0 or out.max() >= num_classes):
        raise QualityError(
            f"{name}: label ids must be in [0, {num_classes}), got [{out.min()}, {out.max()}]"
        )
    return out


def confusion_matrix(
    candidate: npt.ArrayLike,
    reference: npt.ArrayLike,
    num_classes: int = NUM_POINT_CLASSES,
    ignore_index: int = IGNORE_INDEX,
) -> I64:
    """``(C, C)`` counts of points with reference class ``r`` (row) and candidate class ``c``
    (column), over the points the reference labels (``reference != ignore_index``)."""
    cand = _labels(candidate, "candidate labels", num_classes)
    ref = _labels(reference, "reference labels", num_classes)
    if cand.shape != ref.shape:
        raise QualityError(
            f"segmentation: candidate has {cand.shape[0]} points, reference {ref.shape[0]}"
        )
    keep = ref != ignore_index
    flat = ref[keep] * num_classes + cand[keep]
    counts = np.bincount(flat, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).astype(np.int64)


def segmentation_iou(
    candidate: npt.ArrayLike,
    reference: npt.ArrayLike,
    num_classes: int = NUM_POINT_CLASSES,
    ignore_index: int = IGNORE_INDEX,
) -> SegmentationIoU:
    """Per-class IoU and mIoU of ``candidate`` labels against ``reference`` (both ``(P,)``)."""
    conf = confusion_matrix(candidate, reference, num_classes, ignore_index)
    tp = np.diag(conf).astype(np.float64)
    ref_total = conf.sum(axis=1).astype(np.float64)  # TP + FN
    cand_total = conf.sum(axis=0).astype(np.float64)  # TP + FP (candidate's ignore column: FN only)
    union = ref_total + cand_total - tp
    present = union > 0
    present[ignore_index] = False
    ids = np.flatnonzero(present).astype(np.int64)
    iou = tp[ids] / union[ids]
    return SegmentationIoU(
        class_ids=ids,
        iou=iou,
        miou=float(iou.mean()) if iou.size else float("nan"),
        confusion=conf,
        n_points=int(conf.sum()),
    )


def consensus_labels(
    labels: npt.ArrayLike,
    weights: npt.ArrayLike | None = None,
    num_classes: int = NUM_POINT_CLASSES,
    ignore_index: int = IGNORE_INDEX,
) -> I64:
    """Per-point consensus of k annotators' labels ``(k, P)``: the class with the largest summed
    annotator weight (e.g. each annotator's accuracy on gold; default 1 each).

    An unlabelled vote abstains; a point nobody labels stays ``ignore_index``. Exact ties go to
    the smallest class id (deterministic, independent of annotator order).
    """
    arr = np.asarray(labels)
    if arr.ndim != 2:
        raise QualityError(f"consensus labels: expected (annotators, points), got {arr.shape}")
    k, p = arr.shape
    lab = _labels(arr.reshape(-1), "consensus labels", num_classes).reshape(k, p)
    w = np.ones(k) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (k,) or not np.isfinite(w).all() or (w < 0).any():
        raise QualityError(f"consensus labels: need {k} finite weights >= 0, got {w.tolist()}")
    # only the classes in use get a column: (P, classes used), not (P, all ids)
    used, inverse = np.unique(lab, return_inverse=True)
    inverse = inverse.reshape(k, p)
    point = np.broadcast_to(np.arange(p), (k, p))
    votes = np.broadcast_to(w[:, None], (k, p))
    voting = lab != ignore_index
    scores = np.bincount(
        (point * used.shape[0] + inverse)[voting],
        weights=votes[voting],
        minlength=p * used.shape[0],
    ).reshape(p, used.shape[0])
    winner = used[np.argmax(scores, axis=1)] if used.size else np.zeros(p, dtype=np.int64)
    out: I64 = np.where(scores.max(axis=1, initial=0.0) > 0.0, winner, ignore_index).astype(
        np.int64
    )
    return out
