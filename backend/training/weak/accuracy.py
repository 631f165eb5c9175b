"""Weak labels against gold: the class each candidate truly is, and per class precision, recall
and coverage with Wilson 95 % intervals (``backend.evaluation.selection_metrics``). Pure.

A candidate's gold class (:func:`gold_classes`) is that of the ground-truth object holding at
least ``min_fraction`` of the points inside its fitted box (the object's box enlarged by
``margin`` metres), else ``background``; the rule of the training code
(``backend.training.candidates.label_candidates``) with the fitted box standing in for the
cluster, which the runtime does not return. Gold keeps every class, rare ones included: a rare
object given a weak label (any label) is an error the report counts.

Per class ``c`` of a labeller's predictions (``None``: no label):

- precision: of the candidates labelled ``c``, the share whose gold class is ``c``;
- recall: of the candidates whose gold class is ``c``, the share labelled ``c``;
- coverage: of the candidates whose gold class is ``c``, the share given any label.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from backend.errors import EvaluationError
from backend.evaluation.selection_metrics import wilson_interval
from core.classes import BACKGROUND
from core.geometry import points_in_boxes


def gold_classes(
    points: npt.NDArray[np.float32],
    fitted: npt.ArrayLike,
    gt_boxes: npt.ArrayLike,
    gt_classes: Sequence[str],
    *,
    margin: float = 0.25,
    min_fraction: float = 0.5,
) -> list[str]:
    """The gold class of each candidate (fitted boxes (C, 7)) of a frame with ground truth
    (boxes (G, 7) and classes); see the module docstring."""
    cand = np.asarray(fitted, dtype=np.float64).reshape(-1, 7)
    gt = np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 7)
    if gt.shape[0] != len(gt_classes):
        raise EvaluationError(f"gold: {gt.shape[0]} boxes but {len(gt_classes)} classes")
    out = [BACKGROUND] * cand.shape[0]
    if cand.shape[0] == 0 or gt.shape[0] == 0:
        return out
    for c in range(cand.shape[0]):
        inside = points_in_boxes(points, cand[c : c + 1]) == 0
        if not inside.any():
            continue
        owner = points_in_boxes(points[inside], gt, margin)
        votes = np.bincount(owner[owner >= 0], minlength=gt.shape[0])
        best = int(votes.argmax())
        if votes[best] >= min_fraction * int(inside.sum()):
            out[c] = gt_classes[best]
    return out


@dataclass(frozen=True)
class Rate:
    """A proportion ``hits / trials`` with its Wilson 95 % interval (NaN when ``trials`` is 0)."""

    hits: int
    trials: int

    @property
    def value(self) -> float:
        return self.hits / self.trials if self.trials else float("nan")

    def to_json(self) -> dict[str, Any]:
        low, high = wilson_interval(self.hits, self.trials)
        return {
            "value": self.value,
            "ci95": [low, high],
            "hits": self.hits,
            "trials": self.trials,
        }


def class_report(
    predicted: Sequence[str | None], gold: Sequence[str], classes: Sequence[str]
) -> dict[str, Any]:
    """Per class of ``classes`` (what the labeller can say) precision, recall and coverage;
    per gold class outside them (rare objects), how many got a label and which; overall the
    precision of every label given, the coverage of every candidate, and the share of the
    candidates of classes outside ``classes`` that got a label (``unknown_labelled``: each
    one an error)."""
    if len(predicted) != len(gold):
        raise EvaluationError(f"{len(predicted)} predictions for {len(gold)} gold classes")
    pred = np.array([p if p is not None else "" for p in predicted], dtype=object)
    truth = np.array(list(gold), dtype=object)
    given = pred != ""
    per_class: dict[str, Any] = {}
    for c in classes:
        said, real = pred == c, truth == c
        per_class[c] = {
            "precision": Rate(int((said & real).sum()), int(said.sum())).to_json(),
            "recall": Rate(int((said & real).sum()), int(real.sum())).to_json(),
            "coverage": Rate(int((given & real).sum()), int(real.sum())).to_json(),
        }
    others: dict[str, Any] = {}
    for c in sorted(set(truth.tolist()) - set(classes)):
        real = truth == c
        others[c] = {
            "coverage": Rate(int((given & real).sum()), int(real.sum())).to_json(),
            "labelled_as": dict(sorted(Counter(pred[given & real].tolist()).items())),
        }
    right = given & (pred == truth)
    unknown = ~np.isin(truth, list(classes))
    return {
        "classes": per_class,
        "unknown_to_the_labeller": others,
        "overall": {
            "precision": Rate(int(right.sum()), int(given.sum())).to_json(),
            "coverage": Rate(int(given.sum()), len(truth)).to_json(),
            "unknown_labelled": Rate(int((given & unknown).sum()), int(unknown.sum())).to_json(),
        },
    }
