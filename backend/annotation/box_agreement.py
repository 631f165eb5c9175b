"""How each box of another annotator of an overlap task agrees with the labels under review.

The review and adjudication views draw the other annotators' boxes over the set being judged
(an annotator's submission, or the consensus proposal of an overlap task), each coloured by
how it agrees with that set, per frame, with the project's matcher (``qa.matching``: the
Hungarian same-class pass at each class's IoU threshold, then the class-mismatch pass; the
IoU is ``core.geometry``'s, the one box IoU implementation):

- ``agree``: matched with a box of the same class at that class's threshold;
- ``class``: the same object (IoU at the mismatch threshold) labelled with another class;
- ``low_iou``: overlaps a box of the judged set, but too little to be matched;
- ``unmatched``: overlaps nothing of the judged set (an object the judged set lacks).

``iou`` is the IoU with the matched box, or the best IoU with any box of the judged set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from backend.annotation.labels import BoxLabel, LabelContent
from backend.annotation.qa.matching import MatchSettings, PairMetrics, match_frame

Status = Literal["agree", "class", "low_iou", "unmatched"]


@dataclass(frozen=True)
class BoxAgreement:
    """One box of another annotator and how it agrees with the judged set."""

    box_id: str
    frame_id: str
    status: Status
    iou: float
    matched_box_id: str | None


def _arrays(boxes: list[BoxLabel]) -> tuple[np.ndarray, list[str]]:
    return (
        np.array([b.box for b in boxes], dtype=np.float64).reshape(-1, 7),
        [b.class_name for b in boxes],
    )


def box_agreement(
    other: LabelContent, judged: LabelContent, settings: MatchSettings
) -> list[BoxAgreement]:
    """Every box of ``other`` (in its order) with its agreement with ``judged``, frame by frame."""
    out: dict[str, BoxAgreement] = {}
    for frame in dict.fromkeys(b.frame_id for b in other.boxes):
        mine, theirs = other.boxes_of(frame), judged.boxes_of(frame)
        a, a_classes = _arrays(mine)
        b, b_classes = _arrays(theirs)
        found = match_frame(a, a_classes, b, b_classes, settings)
        iou = settings.iou_matrix(a, b)
        kind = "iou_3d" if settings.iou_kind == "3d" else "iou_bev"
        paired: tuple[tuple[Status, PairMetrics], ...] = (
            ("agree", found.matched),
            ("class", found.mismatched),
        )
        for status, pairs in paired:
            values = getattr(pairs, kind)
            for k, (i, j) in enumerate(
                zip(pairs.candidate.tolist(), pairs.reference.tolist(), strict=True)
            ):
                box = mine[i]
                out[box.id] = BoxAgreement(box.id, frame, status, float(values[k]), theirs[j].id)
        for i in found.unmatched_candidate.tolist():
            box = mine[i]
            best = float(iou[i].max()) if iou.shape[1] else 0.0
            alone: Status = "low_iou" if best > 0.0 else "unmatched"
            out[box.id] = BoxAgreement(box.id, frame, alone, best, None)
    return [out[b.id] for b in other.boxes]
