"""Weak labels against gold: each candidate's gold class from the points, and per class
precision, recall and coverage with Wilson intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from backend.errors import EvaluationError
from backend.evaluation.selection_metrics import wilson_interval
from backend.training.weak.accuracy import class_report, gold_classes
from tests.agent.perception.synthetic import box_surface_points

CLASSES = ("background", "car", "pedestrian")


def test_class_report_counts_precision_recall_and_coverage() -> None:
    gold = ["car", "car", "car", "pedestrian", "background", "background", "deer"]
    said = ["car", "car", None, "car", "background", None, "background"]
    report = class_report(said, gold, CLASSES)
    car = report["classes"]["car"]
    assert (car["precision"]["hits"], car["precision"]["trials"]) == (2, 3)
    assert (car["recall"]["hits"], car["recall"]["trials"]) == (2, 3)
    assert (car["coverage"]["hits"], car["coverage"]["trials"]) == (2, 3)
    assert car["precision"]["ci95"] == list(wilson_interval(2, 3))
    ped = report["classes"]["pedestrian"]
    assert ped["recall"]["value"] == 0.0 and ped["coverage"]["value"] == 1.0
    assert math.isnan(ped["precision"]["value"])  # never said: no precision
    bg = report["classes"]["background"]
    assert (bg["precision"]["hits"], bg["precision"]["trials"]) == (1, 2)
    # a rare object the labeller cannot name, labelled anyway: counted, by what it was called
    assert report["unknown_to_the_labeller"]["deer"]["labelled_as"] == {"background": 1}
    overall = report["overall"]
    assert (overall["precision"]["hits"], overall["precision"]["trials"]) == (3, 5)
    assert (overall["coverage"]["hits"], overall["coverage"]["trials"]) == (5, 7)
    assert (overall["unknown_labelled"]["hits"], overall["unknown_labelled"]["trials"]) == (1, 1)
    with pytest.raises(EvaluationError, match="predictions"):
        class_report(said[:-1], gold, CLASSES)


def test_gold_class_is_the_object_holding_most_of_the_candidate_points() -> None:
    rng = np.random.default_rng(0)
    car = (10.0, 0.0, -0.9, 4.4, 1.9, 1.6, 0.3)
    person = (10.0, 6.0, -0.85, 0.6, 0.6, 1.7, 0.0)
    points = np.concatenate(
        [
            box_surface_points(rng, car, 400),
            box_surface_points(rng, person, 200),
            box_surface_points(rng, (30.0, -5.0, 0.0, 1.0, 1.0, 3.0, 0.0), 200),  # a post
        ]
    )
    fitted = np.array(
        [
            (10.0, 0.1, -0.9, 4.2, 1.8, 1.6, 0.3),  # the car's cluster
            (10.0, 6.0, -0.85, 0.62, 0.62, 1.7, 0.0),  # the pedestrian's
            (30.0, -5.0, 0.0, 1.0, 1.0, 3.0, 0.0),  # the post: in no labelled box
            (50.0, 50.0, 0.0, 1.0, 1.0, 1.0, 0.0),  # empty space
        ]
    )
    gold = gold_classes(points, fitted, [car, person], ["car", "pedestrian"])
    assert gold == ["car", "pedestrian", "background", "background"]
    # a candidate with less than half of its points in an object is background: a cluster
    # of a car's front (x 11.2..12.2) merged with a post just ahead of it (800 points)
    straight = (10.0, 0.0, -0.9, 4.4, 1.9, 1.6, 0.0)
    post = box_surface_points(rng, (12.9, 0.0, -0.9, 0.6, 0.6, 1.6, 0.0), 800)
    merged = np.concatenate([box_surface_points(rng, straight, 400), post])
    front = np.array([(12.2, 0.0, -0.9, 2.0, 2.0, 1.6, 0.0)])
    assert gold_classes(merged, front, [straight], ["car"]) == ["background"]
    assert gold_classes(merged[:400], front, [straight], ["car"]) == ["car"]
    assert gold_classes(points, fitted, np.zeros((0, 7)), []) == ["background"] * 4
