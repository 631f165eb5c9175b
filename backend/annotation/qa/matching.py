"""Per-frame matching of two cuboid label sets, with per-pair and summary quality figures.

``candidate`` is the set being judged (an annotator, the pre-labels) and ``reference`` the set it
is judged against (gold, another annotator, the consensus): precision counts over candidate
boxes, recall over reference boxes. Boxes are ``(x, y, z, l, w, h, yaw)`` in one frame (metres,
radians), classes are taxonomy names (``core.classes``).

The two passes (CVAT ``quality_control``'s annotation matching, done for cuboids):

1. **Same-class pass.** A Hungarian assignment (``scipy.optimize.linear_sum_assignment``)
   maximises the summed IoU over pairs of the *same* class whose IoU reaches that class's
   threshold (:class:`MatchSettings`). Those pairs are the matches.
2. **Mismatch pass.** Among the boxes both passes left unmatched, a second assignment over pairs
   of *different* classes whose IoU reaches ``mismatch_threshold``: the same object, labelled
   with another class. Same-class leftovers are not paired here: they failed their own class's
   threshold in pass 1, which is a geometry error, not a class error.

Whatever neither pass paired is unmatched (a false positive on the candidate side, a miss on the
reference side). Degenerate boxes (``core.geometry.valid_box_mask``) have IoU 0 and stay
unmatched.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from backend.errors import QualityError
from core.geometry import bev_iou_matrix, bev_iou_pairs, heading_error, iou3d_matrix, iou3d_pairs

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]
IouKind = Literal["3d", "bev"]

#: classes held to the strict (vehicle) IoU threshold by default, as KITTI holds cars to 0.7
VEHICLE_CLASSES: tuple[str, ...] = ("car", "truck", "bus", "overturned_car")
VEHICLE_IOU = 0.7
#: vulnerable road users and every other class (animals, debris, unknown obstacles)
OTHER_IOU = 0.5


def _default_thresholds() -> Mapping[str, float]:
    return MappingProxyType(dict.fromkeys(VEHICLE_CLASSES, VEHICLE_IOU))


@dataclass(frozen=True)
class MatchSettings:
    """Matching settings, as data.

    ``class_thresholds`` maps a class name to the IoU (0 < t <= 1) a same-class pair must reach;
    classes not listed use ``default_threshold``. ``mismatch_threshold`` is the IoU a pair of
    different classes must reach to count as one object labelled twice. ``iou_kind`` chooses 3D
    IoU or bird's-eye-view IoU for both passes.
    """

    class_thresholds: Mapping[str, float] = field(default_factory=_default_thresholds)
    default_threshold: float = OTHER_IOU
    mismatch_threshold: float = OTHER_IOU
    iou_kind: IouKind = "3d"

    def __post_init__(self) -> None:
        named = {f"class_thresholds[{k!r}]": v for k, v in self.class_thresholds.items()}
        named |= {
            "default_threshold": self.default_threshold,
            "mismatch_threshold": self.mismatch_threshold,
        }
        for name, value in named.items():
            if not 0.0 < value <= 1.0:  # also refuses NaN
                raise QualityError(f"match settings: {name} = {value!r} is not in (0, 1]")
        if self.iou_kind not in ("3d", "bev"):
            raise QualityError(f"match settings: iou_kind = {self.iou_kind!r}, not '3d' or 'bev'")

    def threshold(self, class_name: str) -> float:
        """The IoU a same-class pair of ``class_name`` must reach."""
        return self.class_thresholds.get(class_name, self.default_threshold)

    def iou_matrix(self, a: npt.ArrayLike, b: npt.ArrayLike) -> F64:
        """The IoU matrix of the chosen kind (``core.geometry``, the one implementation)."""
        return iou3d_matrix(a, b) if self.iou_kind == "3d" else bev_iou_matrix(a, b)


@dataclass(frozen=True)
class PairMetrics:
    """Quality of K paired boxes (arrays of length K, aligned).

    ``candidate``/``reference``: box indices in each set. ``iou_3d``/``iou_bev``: IoU of each
    pair. ``centre_error_m``: distance between the centres (metres, 3D). ``heading_error_rad``:
    absolute yaw difference in [0, pi]; ``heading_error_flip_rad`` the same ignoring a half turn,
    in [0, pi/2]. ``same_class``: the two classes agree.
    """

    candidate: I64
    reference: I64
    iou_3d: F64
    iou_bev: F64
    centre_error_m: F64
    heading_error_rad: F64
    heading_error_flip_rad: F64
    same_class: Bool

    def __len__(self) -> int:
        return int(self.candidate.shape[0])


@dataclass(frozen=True)
class FrameMatch:
    """One frame's matching: the matched pairs, the class-mismatch pairs, and the unmatched box
    indices on each side, out of ``n_candidate`` and ``n_reference`` boxes."""

    n_candidate: int
    n_reference: int
    matched: PairMetrics
    mismatched: PairMetrics
    unmatched_candidate: I64
    unmatched_reference: I64


@dataclass(frozen=True)
class MatchSummary:
    """Figures pooled over frames (micro averages: every box counts once).

    ``precision`` = matched / candidate boxes, ``recall`` = matched / reference boxes, ``f1`` =
    2 matched / (candidate + reference): a box with the wrong class is not matched, so these are
    class-aware. ``geometric_f1`` counts class-mismatch pairs as hits too (class-blind).
    Conventions for empty sets: no candidate boxes -> precision 1, no reference boxes -> recall
    1, both empty -> F1 1 (nothing to disagree about). ``class_agreement`` = matched / (matched +
    mismatched). Means (IoU, centre error in metres, heading errors in radians) are over matched
    pairs; a figure with nothing to average is NaN.
    """

    frames: int
    n_candidate: int
    n_reference: int
    matched: int
    mismatched: int
    precision: float
    recall: float
    f1: float
    geometric_f1: float
    class_agreement: float
    mean_iou_3d: float
    mean_iou_bev: float
    mean_centre_error_m: float
    mean_heading_error_rad: float
    mean_heading_error_flip_rad: float


def _boxes(boxes: npt.ArrayLike, classes: Sequence[str], side: str) -> F64:
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.size == 0:
        arr = arr.reshape(0, 7)
    if arr.ndim != 2 or arr.shape[1] != 7:
        raise QualityError(f"{side} boxes: expected shape (N, 7), got {arr.shape}")
    if len(classes) != arr.shape[0]:
        raise QualityError(f"{side}: {arr.shape[0]} boxes but {len(classes)} class names")
    return arr


def assign(weight: F64) -> tuple[I64, I64]:
    """Maximum-weight one-to-one assignment over the positive entries of ``weight`` (N, M).

    Entries <= 0 are not edges: ``linear_sum_assignment`` pairs min(N, M) rows, and the pairs it
    puts on a zero entry are dropped, which leaves a maximum-weight matching of the positive
    entries. Returns row and column indices, sorted by row.
    """
    empty = np.zeros(0, dtype=np.int64)
    if weight.size == 0 or not (weight > 0.0).any():
        return empty, empty.copy()
    rows, cols = linear_sum_assignment(weight, maximize=True)
    keep = weight[rows, cols] > 0.0
    return rows[keep].astype(np.int64), cols[keep].astype(np.int64)


def _metrics(
    a: F64, b: F64, ci: I64, ri: I64, same: Bool, iou: F64 | None = None, kind: IouKind = "3d"
) -> PairMetrics:
    """Per-pair quality of boxes ``a[ci[k]]`` and ``b[ri[k]]``; ``iou``, if given, is the
    matrix of ``kind`` already computed (its entries are reused, not recomputed)."""
    pa, pb = a[ci], b[ri]
    known = iou[ci, ri] if iou is not None else None
    d = pa[:, :3] - pb[:, :3]
    return PairMetrics(
        candidate=ci,
        reference=ri,
        iou_3d=known if known is not None and kind == "3d" else iou3d_pairs(pa, pb),
        iou_bev=known if known is not None and kind == "bev" else bev_iou_pairs(pa, pb),
        centre_error_m=np.sqrt((d * d).sum(axis=1)),
        heading_error_rad=heading_error(pa[:, 6], pb[:, 6]),
        heading_error_flip_rad=heading_error(pa[:, 6], pb[:, 6], ignore_flip=True),
        same_class=same,
    )


def _split(p: PairMetrics, k: int) -> tuple[PairMetrics, PairMetrics]:
    """The first ``k`` pairs and the rest, as two :class:`PairMetrics`."""
    head = {name: getattr(p, name)[:k] for name in p.__dataclass_fields__}
    tail = {name: getattr(p, name)[k:] for name in p.__dataclass_fields__}
    return PairMetrics(**head), PairMetrics(**tail)


def pair_metrics(
    candidate_boxes: npt.ArrayLike,
    candidate_classes: Sequence[str],
    reference_boxes: npt.ArrayLike,
    reference_classes: Sequence[str],
    candidate_index: npt.ArrayLike,
    reference_index: npt.ArrayLike,
) -> PairMetrics:
    """Per-pair quality of the pairs ``(candidate_index[k], reference_index[k])``."""
    ci = np.asarray(candidate_index, dtype=np.int64).reshape(-1)
    ri = np.asarray(reference_index, dtype=np.int64).reshape(-1)
    a = _boxes(candidate_boxes, candidate_classes, "candidate")
    b = _boxes(reference_boxes, reference_classes, "reference")
    same = np.array(
        [
            candidate_classes[i] == reference_classes[j]
            for i, j in zip(ci.tolist(), ri.tolist(), strict=True)
        ],
        dtype=bool,
    )  # over pairs, not points
    return _metrics(a, b, ci, ri, same)


def match_frame(
    candidate_boxes: npt.ArrayLike,
    candidate_classes: Sequence[str],
    reference_boxes: npt.ArrayLike,
    reference_classes: Sequence[str],
    settings: MatchSettings | None = None,
) -> FrameMatch:
    """Match one frame's candidate boxes ``(N, 7)`` to its reference boxes ``(M, 7)`` (same frame,
    metres, radians) in the two passes of the module docstring; either set may be empty."""
    settings = settings or MatchSettings()
    a = _boxes(candidate_boxes, candidate_classes, "candidate")
    b = _boxes(reference_boxes, reference_classes, "reference")
    n, m = a.shape[0], b.shape[0]
    iou = settings.iou_matrix(a, b)
    # classes as integer codes: comparing a 50 x 50 table of Python strings costs more than
    # the IoU matrix itself
    names = list(dict.fromkeys([*candidate_classes, *reference_classes]))
    code = {name: i for i, name in enumerate(names)}
    ca = np.array([code[c] for c in candidate_classes], dtype=np.int64).reshape(n)
    cb = np.array([code[c] for c in reference_classes], dtype=np.int64).reshape(m)
    class_threshold = np.array([settings.threshold(c) for c in names], dtype=np.float64)
    same = ca[:, None] == cb[None, :]

    # pass 1: same class, at that class's threshold
    rows, cols = assign(np.where(same & (iou >= class_threshold[cb][None, :]), iou, 0.0))
    free_a = np.ones(n, dtype=bool)
    free_a[rows] = False
    free_b = np.ones(m, dtype=bool)
    free_b[cols] = False
    left_a, left_b = np.flatnonzero(free_a), np.flatnonzero(free_b)

    # pass 2: different classes among the leftovers, at the mismatch threshold
    sub = iou[np.ix_(left_a, left_b)]
    eligible = ~same[np.ix_(left_a, left_b)] & (sub >= settings.mismatch_threshold)
    r2, c2 = assign(np.where(eligible, sub, 0.0))
    mis_a, mis_b = left_a[r2], left_b[c2]
    free_a[mis_a] = False
    free_b[mis_b] = False

    ci, ri = np.concatenate([rows, mis_a]), np.concatenate([cols, mis_b])
    metrics = _metrics(a, b, ci, ri, ca[ci] == cb[ri], iou, settings.iou_kind)
    matched, mismatched = _split(metrics, rows.shape[0])
    return FrameMatch(
        n_candidate=n,
        n_reference=m,
        matched=matched,
        mismatched=mismatched,
        unmatched_candidate=np.flatnonzero(free_a).astype(np.int64),
        unmatched_reference=np.flatnonzero(free_b).astype(np.int64),
    )


def _ratio(num: float, den: float, empty: float) -> float:
    return num / den if den > 0 else empty


def _mean(values: Sequence[F64]) -> float:
    joined = np.concatenate(values) if values else np.zeros(0)
    return float(joined.mean()) if joined.size else math.nan


def summarize(frames: Iterable[FrameMatch]) -> MatchSummary:
    """Pool frames' matches into one :class:`MatchSummary` (see its conventions)."""
    items = list(frames)
    n_c = sum(f.n_candidate for f in items)
    n_r = sum(f.n_reference for f in items)
    tp = sum(len(f.matched) for f in items)
    mis = sum(len(f.mismatched) for f in items)
    matched = [f.matched for f in items]
    return MatchSummary(
        frames=len(items),
        n_candidate=n_c,
        n_reference=n_r,
        matched=tp,
        mismatched=mis,
        precision=_ratio(tp, n_c, 1.0),
        recall=_ratio(tp, n_r, 1.0),
        f1=_ratio(2 * tp, n_c + n_r, 1.0),
        geometric_f1=_ratio(2 * (tp + mis), n_c + n_r, 1.0),
        class_agreement=_ratio(tp, tp + mis, math.nan),
        mean_iou_3d=_mean([p.iou_3d for p in matched]),
        mean_iou_bev=_mean([p.iou_bev for p in matched]),
        mean_centre_error_m=_mean([p.centre_error_m for p in matched]),
        mean_heading_error_rad=_mean([p.heading_error_rad for p in matched]),
        mean_heading_error_flip_rad=_mean([p.heading_error_flip_rad for p in matched]),
    )
