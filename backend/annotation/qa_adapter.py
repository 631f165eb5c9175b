"""Label sets in, numbers out: the thin layer between stored labels (``LabelContent``) and the
pure quality-control core (``backend.annotation.qa``).

* :func:`score_labels` scores labels against a known answer (gold): the matcher per frame, then
  ``accuracy`` = the class-aware F1 (a box of the wrong class is a miss and a false box; see
  ``qa.gold``), the class agreement of the boxes found, and the points' mIoU.
* :func:`group_boxes` / :func:`fuse_group` / :func:`pairwise_agreement` /
  :func:`point_consensus` serve the consensus of overlap tasks.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from backend.annotation.labels import BoxLabel, LabelContent
from backend.annotation.ontology import Ontology
from backend.annotation.qa import grouping
from backend.annotation.qa.fusion import fuse_boxes
from backend.annotation.qa.matching import MatchSettings, match_frame, summarize
from backend.annotation.qa.segmentation import consensus_labels, segmentation_iou
from backend.config import AnnotationConfig
from core.formats.semantic_kitti import PointLabels

#: two annotators' boxes of one object must overlap this much (3D IoU) to be grouped
GROUP_IOU = 0.3


def settings_for(ontology: Ontology, config: AnnotationConfig) -> MatchSettings:
    """Match settings from the config: the vehicle threshold for vehicle-like classes."""
    thresholds = {c.name: config.vehicle_iou for c in ontology.classes if c.is_vehicle}
    return MatchSettings(
        class_thresholds=MappingProxyType(thresholds),
        default_threshold=config.other_iou,
        mismatch_threshold=config.other_iou,
    )


def _arrays(boxes: Sequence[BoxLabel]) -> tuple[np.ndarray, list[str]]:
    return (
        np.array([b.box for b in boxes], dtype=np.float64).reshape(-1, 7),
        [b.class_name for b in boxes],
    )


@dataclass(frozen=True)
class ScoreSummary:
    """Labels measured against an answer; ``class_pairs``: (answer box id, given class, true
    class) for every matched or class-mismatched pair (the gold votes of the class model)."""

    accuracy: float
    f1: float
    mean_iou: float
    class_agreement: float
    centre_error_m: float
    heading_error_rad: float
    point_miou: float | None
    class_pairs: list[tuple[str, str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy,
            "f1": self.f1,
            "mean_iou": self.mean_iou,
            "class_agreement": self.class_agreement,
            "centre_error_m": self.centre_error_m,
            "heading_error_rad": self.heading_error_rad,
            "point_miou": self.point_miou,
        }


def _finite(value: float, fallback: float) -> float:
    return value if math.isfinite(value) else fallback


def score_labels(
    given: LabelContent, answer: LabelContent, ontology: Ontology, config: AnnotationConfig
) -> ScoreSummary:
    """``given`` measured against ``answer`` frame by frame (see the module docstring)."""
    settings = settings_for(ontology, config)
    frames = sorted({b.frame_id for b in answer.boxes} | {b.frame_id for b in given.boxes})
    matches = []
    pairs: list[tuple[str, str, str]] = []
    for frame_id in frames:
        g, a = given.boxes_of(frame_id), answer.boxes_of(frame_id)
        gb, gc = _arrays(g)
        ab, ac = _arrays(a)
        m = match_frame(gb, gc, ab, ac, settings)
        matches.append(m)
        for metrics in (m.matched, m.mismatched):
            for ci, ri in zip(metrics.candidate.tolist(), metrics.reference.tolist(), strict=True):
                pairs.append((a[ri].id, g[ci].class_name, a[ri].class_name))
    summary = summarize(matches)
    agreement = _finite(summary.class_agreement, 1.0 if summary.n_reference == 0 else 0.0)
    ious = []
    for frame_id, truth in answer.points.items():
        labels = given.points.get(frame_id)
        if labels is not None and labels.semantic.shape == truth.semantic.shape:
            miou = segmentation_iou(labels.semantic, truth.semantic).miou
            if math.isfinite(miou):
                ious.append(miou)
    return ScoreSummary(
        accuracy=summary.f1,
        f1=summary.f1,
        mean_iou=_finite(summary.mean_iou_3d, 0.0),
        class_agreement=agreement,
        centre_error_m=_finite(summary.mean_centre_error_m, 0.0),
        heading_error_rad=_finite(summary.mean_heading_error_rad, 0.0),
        point_miou=statistics.fmean(ious) if ious else None,
        class_pairs=pairs,
    )


def group_boxes(
    per_worker: Mapping[str, Sequence[BoxLabel]], ontology: Ontology, config: AnnotationConfig
) -> list[dict[str, BoxLabel]]:
    """One frame's boxes of several people grouped into objects: each a map person -> box."""
    workers = list(per_worker)
    arrays = [_arrays(per_worker[w]) for w in workers]
    clusters = grouping.group_boxes([a for a, _ in arrays], [c for _, c in arrays], GROUP_IOU)
    return [
        {
            workers[int(k)]: per_worker[workers[int(k)]][int(i)]
            for k, i in zip(c.annotators, c.indices, strict=True)
        }
        for c in clusters
    ]


def fuse_group(boxes: Sequence[BoxLabel]) -> tuple[float, float, float, float, float, float, float]:
    """The fused box of one object's members (median centre and size, circular mean heading)."""
    fused = fuse_boxes(np.array([b.box for b in boxes], dtype=np.float64)).box
    return tuple(float(v) for v in fused)  # type: ignore[return-value]


def pairwise_agreement(
    sets: Sequence[LabelContent],
    frame_ids: Sequence[str],
    ontology: Ontology,
    config: AnnotationConfig,
) -> float:
    """Mean over pairs of people of their matched F1 (class-aware), pooled over the frames."""
    if len(sets) < 2:
        return 1.0
    settings = settings_for(ontology, config)
    values = []
    for left, right in itertools.combinations(sets, 2):
        matches = []
        for frame_id in frame_ids:
            lb, lc = _arrays(left.boxes_of(frame_id))
            rb, rc = _arrays(right.boxes_of(frame_id))
            matches.append(match_frame(lb, lc, rb, rc, settings))
        values.append(summarize(matches).f1)
    return statistics.fmean(values)


def point_consensus(
    labels: Mapping[str, PointLabels], accuracy: Mapping[str, float]
) -> PointLabels:
    """Per point, the class with the largest summed accuracy of the people who chose it
    (``qa.segmentation.consensus_labels``); the instance of the most accurate person who chose
    that class (0 where nobody labelled the point)."""
    workers = sorted(labels, key=lambda w: -accuracy.get(w, 0.0))  # most accurate first
    semantic = np.stack([labels[w].semantic for w in workers])
    instance = np.stack([labels[w].instance for w in workers])
    weights = np.array([accuracy.get(w, 0.0) for w in workers], dtype=np.float64)
    winner = consensus_labels(semantic, weights)
    agrees = semantic == winner[None, :]
    chooser = np.argmax(agrees, axis=0)  # the first (most accurate) person who chose it
    picked = instance[chooser, np.arange(instance.shape[1])]
    return PointLabels(
        winner.astype(np.uint16), np.where(agrees.any(axis=0), picked, 0).astype(np.uint16)
    )
