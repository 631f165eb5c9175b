"""Ontology growth: which classes the next model knows.

The next model keeps every class of the champion, in the champion's order (so class index i
means the same thing in both and the old rows of each head carry over), and appends every rare
class with at least ``min_labels`` accepted labelled objects in the training set, in the order
of ``core.classes.RARE_CLASSES``. The other rare classes stay unknown: their candidates are
left out of training (``backend.training.candidates``), never taught as background, and the
vehicle keeps flagging them through the scoring kernels (``unknown_obstacle`` to annotators).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from backend.errors import TrainingError
from core.classes import BACKGROUND, RARE_CLASSES

#: accepted labelled objects a rare class needs to become a known class of the next model: at
#: about 3 candidates per object per frame of a track, 20 objects give the new rows of each head
#: some 50-100 training candidates, enough to learn a class the trunk already separates
DEFAULT_MIN_LABELS: Final = 20


@dataclass(frozen=True)
class OntologyDecision:
    """The next model's classes (``background`` first), which of them are new, and the rare
    classes left unknown with their label counts."""

    classes: tuple[str, ...]
    promoted: tuple[str, ...]
    unknown: dict[str, int]
    min_labels: int

    def as_json(self) -> dict[str, object]:
        return {
            "classes": list(self.classes),
            "promoted": list(self.promoted),
            "unknown": dict(self.unknown),
            "min_labels": self.min_labels,
        }


def next_classes(
    champion: Sequence[str],
    label_counts: Mapping[str, int],
    *,
    min_labels: int = DEFAULT_MIN_LABELS,
    eligible: Sequence[str] = RARE_CLASSES,
) -> OntologyDecision:
    """The classes of the model trained after ``champion`` on a set with ``label_counts``
    (labelled objects per class); see the module docstring."""
    if min_labels < 1:
        raise TrainingError(f"ontology: min_labels must be >= 1, got {min_labels}")
    if not champion or champion[0] != BACKGROUND:
        raise TrainingError(
            f"ontology: champion classes must start with {BACKGROUND!r}, got {list(champion)}"
        )
    if len(set(champion)) != len(champion):
        raise TrainingError(f"ontology: champion classes repeat a name: {list(champion)}")
    known = set(champion)
    candidates = [c for c in eligible if c not in known]
    promoted = tuple(c for c in candidates if label_counts.get(c, 0) >= min_labels)
    unknown = {
        c: int(label_counts.get(c, 0))
        for c in candidates
        if c not in promoted and label_counts.get(c, 0) > 0
    }
    return OntologyDecision((*champion, *promoted), promoted, unknown, min_labels)
