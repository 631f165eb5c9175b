"""Ontology growth: champion classes kept in order, rare classes promoted at the threshold."""

from __future__ import annotations

import pytest

from backend.errors import TrainingError
from backend.training.ontology import next_classes
from core.classes import BACKGROUND, COMMON_CLASSES, UNKNOWN_OBSTACLE

CHAMPION = (BACKGROUND, *COMMON_CLASSES)


def test_rare_classes_with_enough_labels_are_appended_in_taxonomy_order() -> None:
    counts = {"traffic_cone": 30, "stroller": 20, "deer": 19, "car": 500, UNKNOWN_OBSTACLE: 99}
    d = next_classes(CHAMPION, counts, min_labels=20)
    assert d.classes == (*CHAMPION, "stroller", "traffic_cone")
    assert d.promoted == ("stroller", "traffic_cone")
    assert d.unknown == {"deer": 19}  # below the threshold: stays unknown, is reported


def test_known_classes_are_never_dropped_or_reordered() -> None:
    grown = (*CHAMPION, "stroller")
    d = next_classes(grown, {"stroller": 0, "dog": 50}, min_labels=20)
    assert d.classes == (*grown, "dog")
    assert next_classes(grown, {}, min_labels=1).classes == grown


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(TrainingError, match="min_labels"):
        next_classes(CHAMPION, {}, min_labels=0)
    with pytest.raises(TrainingError, match="background"):
        next_classes(("car", BACKGROUND), {})
