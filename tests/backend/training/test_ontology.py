"""Ontology growth: champion classes kept in order, rare classes tried at the label threshold
(at most ``max_promoted``, best-supported first) and kept only at the validation-recall bar."""

from __future__ import annotations

import math

import pytest

from backend.errors import TrainingError
from backend.training.ontology import next_classes, review_promotions
from core.classes import BACKGROUND, COMMON_CLASSES, UNKNOWN_OBSTACLE

CHAMPION = (BACKGROUND, *COMMON_CLASSES)


def test_rare_classes_with_enough_labels_are_appended_in_taxonomy_order() -> None:
    counts = {"traffic_cone": 30, "stroller": 20, "deer": 19, "car": 500, UNKNOWN_OBSTACLE: 99}
    d = next_classes(CHAMPION, counts, min_labels=20)
    assert d.classes == (*CHAMPION, "stroller", "traffic_cone")
    assert d.promoted == ("stroller", "traffic_cone")
    assert d.unknown == {"deer": 19}  # below the threshold: stays unknown, is reported
    assert d.deferred == {}


def test_known_classes_are_never_dropped_or_reordered() -> None:
    grown = (*CHAMPION, "stroller")
    d = next_classes(grown, {"stroller": 0, "dog": 50}, min_labels=20)
    assert d.classes == (*grown, "dog")
    assert next_classes(grown, {}, min_labels=1).classes == grown


def test_the_cap_takes_the_best_supported_classes_and_defers_the_rest() -> None:
    counts = {"stroller": 25, "deer": 90, "dog": 40, "debris": 40, "traffic_cone": 5}
    d = next_classes(CHAMPION, counts, min_labels=20, max_promoted=2)
    # deer (90) first, then dog and debris tie at 40: the taxonomy order breaks it (dog first)
    assert d.promoted == ("deer", "dog")
    assert d.classes == (*CHAMPION, "deer", "dog")  # appended in taxonomy order
    assert d.deferred == {"debris": 40, "stroller": 25}
    assert d.unknown == {"stroller": 25, "debris": 40, "traffic_cone": 5}
    assert d.label_counts == {"deer": 90, "dog": 40}
    assert d.as_json()["max_promoted"] == 2 and d.as_json()["deferred"] == d.deferred
    frozen = next_classes(CHAMPION, counts, min_labels=20, max_promoted=0)
    assert frozen.classes == CHAMPION and set(frozen.deferred) == {
        "deer",
        "dog",
        "debris",
        "stroller",
    }


def test_the_review_keeps_only_classes_that_clear_the_recall_bar() -> None:
    d = next_classes(CHAMPION, {"stroller": 60, "deer": 30, "dog": 25}, min_labels=20)
    review = review_promotions(
        d,
        {"stroller": 0.84, "deer": 0.5, "dog": 0.49, "car": 0.1},
        {"stroller": 40, "deer": 8, "dog": 12, "car": 900},
        min_recall=0.5,
    )
    assert review.kept == ("stroller", "deer")  # the bar is inclusive
    assert review.demoted == ("dog",)
    assert review.classes == (*CHAMPION, "stroller", "deer")
    verdicts = review.as_json()["verdicts"]
    assert isinstance(verdicts, dict)
    assert verdicts["dog"] == {
        "labels": 25,
        "val_candidates": 12,
        "val_recall": 0.49,
        "kept": False,
        "reason": "validation recall 0.490 < 0.500",
    }
    assert verdicts["stroller"]["labels"] == 60 and verdicts["stroller"]["kept"] is True


def test_a_class_without_validation_candidates_is_demoted() -> None:
    d = next_classes(CHAMPION, {"deer": 30, "dog": 30}, min_labels=20)
    review = review_promotions(d, {"deer": math.nan, "dog": 1.0}, {"dog": 0}, min_recall=0.0)
    assert review.kept == () and review.classes == CHAMPION
    assert all("no validation candidates" in v.reason for v in review.verdicts)
    assert review.as_json()["verdicts"]["deer"]["val_recall"] is None  # type: ignore[index]


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(TrainingError, match="min_labels"):
        next_classes(CHAMPION, {}, min_labels=0)
    with pytest.raises(TrainingError, match="max_promoted must be >= 0, got -1"):
        next_classes(CHAMPION, {}, max_promoted=-1)
    with pytest.raises(TrainingError, match="background"):
        next_classes(("car", BACKGROUND), {})
    with pytest.raises(TrainingError, match=r"min_recall must be in \[0, 1\], got 1.5"):
        review_promotions(next_classes(CHAMPION, {}), {}, {}, min_recall=1.5)
