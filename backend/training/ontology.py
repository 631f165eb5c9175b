"""Ontology growth: which classes the next model knows.

Two steps, both pure:

1. **Before training** (:func:`next_classes`): the next model keeps every class of the champion,
   in the champion's order (so class index i means the same thing in both and the old rows of
   each head carry over), and takes as *trial* classes the rare classes with at least
   ``min_labels`` accepted labelled objects in the training split, at most ``max_promoted`` of
   them per turn, the best-supported first (most labelled objects; ties in the order of
   ``core.classes.RARE_CLASSES``). They are appended in taxonomy order. The other rare classes
   stay unknown: their candidates are left out of training (``backend.training.candidates``),
   never taught as background, and the vehicle keeps flagging them through the scoring kernels
   (``unknown_obstacle`` to annotators). Those that had enough labels but lost to the cap are
   reported as ``deferred``.
2. **After training** (:func:`review_promotions`): a trial class is kept only when its recall
   on the training set's validation split (the share of its validation candidates the trained
   model names correctly) is at least ``min_recall``; a class with no validation candidates
   cannot show it and is demoted too. A demoted class goes back to unknown: the fine-tuning
   drops its rows from every head (``backend.training.finetune``) so the packaged model never
   names it. The review, with every number, is recorded in the package, the run's outcome and
   MLflow.

The loop benchmark (README "The loop, measured") is why: promoting every class over
``min_labels`` at once put eight or nine classes with ~26 training candidates each into one
model, none was learnt, and promotion took away the champion's "any foreground" credit for them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from backend.errors import TrainingError
from core.classes import BACKGROUND, RARE_CLASSES

#: accepted labelled objects a rare class needs to become a known class of the next model: at
#: about 3 candidates per object per frame of a track, 20 objects give the new rows of each head
#: some 50-100 training candidates, enough to learn a class the trunk already separates
DEFAULT_MIN_LABELS: Final = 20
#: validation recall a trial class needs to stay in the next model (a policy: at 0.5 the model
#: names most of the class's validation candidates, so naming it helps more than it costs)
DEFAULT_MIN_RECALL: Final = 0.5
#: trial classes per turn (a policy: the benchmark's eight or nine at once learnt none)
DEFAULT_MAX_PROMOTED: Final = 2


@dataclass(frozen=True)
class OntologyDecision:
    """The classes to train (``background`` first), which of them are on trial, the rare
    classes left unknown with their label counts, and those over ``min_labels`` left out by
    the ``max_promoted`` cap (``deferred``)."""

    classes: tuple[str, ...]
    promoted: tuple[str, ...]
    unknown: dict[str, int]
    min_labels: int
    deferred: dict[str, int]
    max_promoted: int | None
    label_counts: dict[str, int]

    def as_json(self) -> dict[str, object]:
        return {
            "classes": list(self.classes),
            "promoted": list(self.promoted),
            "unknown": dict(self.unknown),
            "deferred": dict(self.deferred),
            "min_labels": self.min_labels,
            "max_promoted": self.max_promoted,
        }


def next_classes(
    champion: Sequence[str],
    label_counts: Mapping[str, int],
    *,
    min_labels: int = DEFAULT_MIN_LABELS,
    max_promoted: int | None = None,
    eligible: Sequence[str] = RARE_CLASSES,
) -> OntologyDecision:
    """The classes of the model trained after ``champion`` on a set with ``label_counts``
    (labelled objects per class); ``max_promoted`` None means no cap. See the module
    docstring."""
    if min_labels < 1:
        raise TrainingError(f"ontology: min_labels must be >= 1, got {min_labels}")
    if max_promoted is not None and max_promoted < 0:
        raise TrainingError(f"ontology: max_promoted must be >= 0, got {max_promoted}")
    if not champion or champion[0] != BACKGROUND:
        raise TrainingError(
            f"ontology: champion classes must start with {BACKGROUND!r}, got {list(champion)}"
        )
    if len(set(champion)) != len(champion):
        raise TrainingError(f"ontology: champion classes repeat a name: {list(champion)}")
    known = set(champion)
    candidates = [c for c in eligible if c not in known]
    enough = [c for c in candidates if label_counts.get(c, 0) >= min_labels]
    # best-supported first; sorted() is stable, so ties keep the taxonomy order
    ranked = sorted(enough, key=lambda c: -int(label_counts.get(c, 0)))
    chosen = set(ranked if max_promoted is None else ranked[:max_promoted])
    promoted = tuple(c for c in candidates if c in chosen)
    deferred = {c: int(label_counts[c]) for c in ranked if c not in chosen}
    unknown = {
        c: int(label_counts.get(c, 0))
        for c in candidates
        if c not in chosen and label_counts.get(c, 0) > 0
    }
    return OntologyDecision(
        (*champion, *promoted),
        promoted,
        unknown,
        min_labels,
        deferred,
        max_promoted,
        {c: int(label_counts.get(c, 0)) for c in promoted},
    )


@dataclass(frozen=True)
class PromotionVerdict:
    """One trial class after training: its labelled objects (training split), validation
    candidates, validation recall (NaN without candidates), and whether it stays."""

    name: str
    labels: int
    val_candidates: int
    val_recall: float
    kept: bool
    reason: str

    def as_json(self) -> dict[str, object]:
        return {
            "labels": self.labels,
            "val_candidates": self.val_candidates,
            "val_recall": None if math.isnan(self.val_recall) else self.val_recall,
            "kept": self.kept,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class PromotionReview:
    """The next model's classes after the review (champion classes, then the kept trial
    classes in the order they were trained) and the verdict on every trial class."""

    classes: tuple[str, ...]
    verdicts: tuple[PromotionVerdict, ...]
    min_recall: float

    @property
    def kept(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.verdicts if v.kept)

    @property
    def demoted(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.verdicts if not v.kept)

    def as_json(self) -> dict[str, object]:
        return {
            "min_recall": self.min_recall,
            "kept": list(self.kept),
            "demoted": list(self.demoted),
            "classes": list(self.classes),
            "verdicts": {v.name: v.as_json() for v in self.verdicts},
        }


def review_promotions(
    decision: OntologyDecision,
    val_recall: Mapping[str, float],
    val_candidates: Mapping[str, int],
    *,
    min_recall: float = DEFAULT_MIN_RECALL,
) -> PromotionReview:
    """Keep the trial classes of ``decision`` whose validation recall (share of their
    ``val_candidates`` named right by the trained model) is at least ``min_recall``; the rest
    are demoted to unknown. See the module docstring."""
    if not 0.0 <= min_recall <= 1.0:
        raise TrainingError(f"ontology: min_recall must be in [0, 1], got {min_recall}")
    verdicts = []
    for name in decision.promoted:
        n = int(val_candidates.get(name, 0))
        recall = float(val_recall.get(name, math.nan)) if n > 0 else math.nan
        if n == 0 or math.isnan(recall):
            kept, reason = False, "no validation candidates: its recall cannot be shown"
        elif recall >= min_recall:
            kept, reason = True, f"validation recall {recall:.3f} >= {min_recall:.3f}"
        else:
            kept, reason = False, f"validation recall {recall:.3f} < {min_recall:.3f}"
        verdicts.append(
            PromotionVerdict(name, decision.label_counts.get(name, 0), n, recall, kept, reason)
        )
    dropped = {v.name for v in verdicts if not v.kept}
    classes = tuple(c for c in decision.classes if c not in dropped)
    return PromotionReview(classes, tuple(verdicts), min_recall)
