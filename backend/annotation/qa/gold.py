"""Annotator accuracy on gold (honeypot) tasks and the calibration-outlier rule (pure functions).

An annotator's gold tasks are matched against their known answers with
``matching.match_frame`` (candidate = the annotator, reference = gold); :func:`gold_accuracy`
pools them. The accuracy is the class-aware F1 of the matcher: a box with the wrong class is not
a match, so it already counts as one false positive and one miss. The class-blind
``geometric_f1`` and the ``class_agreement`` of the boxes that were found are reported beside it,
so a reviewer can tell "draws well, names wrongly" from "misses objects".

:func:`flag_outliers` applies the calibration rule: an annotator with at least ``min_tasks``
gold tasks is flagged when their accuracy is below ``min_accuracy``, or more than
``max_below_median`` below the median accuracy of the annotators with enough tasks; with fewer
tasks the verdict is ``insufficient`` (no judgement yet).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from backend.annotation.qa.matching import FrameMatch, summarize
from backend.errors import QualityError


@dataclass(frozen=True)
class GoldAccuracy:
    """One annotator on gold: ``accuracy`` (class-aware F1, in [0, 1]) over ``n_tasks`` gold
    tasks, with the class-blind ``geometric_f1``, the ``class_agreement`` of the found boxes
    (NaN if none were found), the ``mean_iou_3d`` of matches (NaN if none) and the box counts."""

    n_tasks: int
    accuracy: float
    geometric_f1: float
    class_agreement: float
    mean_iou_3d: float
    n_boxes: int
    n_gold_boxes: int


@dataclass(frozen=True)
class CalibrationVerdict:
    """The calibration rule's verdict on one annotator, with the reasons for a flag."""

    status: Literal["ok", "flagged", "insufficient"]
    n_tasks: int
    accuracy: float
    reasons: tuple[str, ...]


def gold_accuracy(tasks: Iterable[FrameMatch]) -> GoldAccuracy:
    """Pool one annotator's gold tasks (one :class:`FrameMatch` per gold frame, candidate = the
    annotator, reference = the gold answer)."""
    s = summarize(tasks)
    return GoldAccuracy(
        n_tasks=s.frames,
        accuracy=s.f1,
        geometric_f1=s.geometric_f1,
        class_agreement=s.class_agreement,
        mean_iou_3d=s.mean_iou_3d,
        n_boxes=s.n_candidate,
        n_gold_boxes=s.n_reference,
    )


def flag_outliers(
    accuracies: Mapping[str, GoldAccuracy],
    min_tasks: int = 5,
    min_accuracy: float = 0.6,
    max_below_median: float = 0.2,
) -> dict[str, CalibrationVerdict]:
    """The calibration verdict for every annotator in ``accuracies`` (see the module docstring).

    ``min_accuracy`` and ``max_below_median`` are accuracies in [0, 1].
    """
    if min_tasks < 1:
        raise QualityError(f"flag outliers: min_tasks = {min_tasks} must be >= 1")
    for name, value in (("min_accuracy", min_accuracy), ("max_below_median", max_below_median)):
        if not 0.0 <= value <= 1.0:
            raise QualityError(f"flag outliers: {name} = {value!r} is not in [0, 1]")
    judged = {a: g for a, g in accuracies.items() if g.n_tasks >= min_tasks}
    median = statistics.median(g.accuracy for g in judged.values()) if judged else float("nan")
    verdicts: dict[str, CalibrationVerdict] = {}
    for annotator, g in accuracies.items():
        if annotator not in judged:
            verdicts[annotator] = CalibrationVerdict(
                "insufficient",
                g.n_tasks,
                g.accuracy,
                (f"{g.n_tasks} gold tasks, fewer than {min_tasks}",),
            )
            continue
        reasons = []
        if g.accuracy < min_accuracy:
            reasons.append(f"gold accuracy {g.accuracy:.3f} below the floor {min_accuracy:.3f}")
        if g.accuracy < median - max_below_median:
            reasons.append(
                f"gold accuracy {g.accuracy:.3f} more than {max_below_median:.3f} below the "
                f"group median {median:.3f}"
            )
        verdicts[annotator] = CalibrationVerdict(
            "flagged" if reasons else "ok", g.n_tasks, g.accuracy, tuple(reasons)
        )
    return verdicts
