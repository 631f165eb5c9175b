"""The selection benchmark's policies and metrics, on hand-made drive records."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agent.scoring import SCORE_NAMES, make_scorer
from benchmarks.selection_drives import frame_labels
from benchmarks.selection_policies import (
    BUDGET,
    candidate_coverage,
    detection_level,
    evaluate_seed,
    policy_scores,
    summarise,
)
from tests.agent.scoring import reference
from tests.benchmarks.records import drive

BUDGETS = (BUDGET, 0.5)


def test_policy_scores_take_frame_maxima_foreground_and_counts() -> None:
    records = drive(
        [[(1.0, 0, ""), (3.0, 1, "")], [], [(5.0, 0, ""), (2.0, 2, ""), (0.5, 0, "")]],
        [0, 0, 0],
    )
    scorer = make_scorer(reference.random_stats(1), device="cpu")
    scores, random = policy_scores(records, scorer, np.random.default_rng(0), random_draws=4)
    assert scores["knn"].tolist() == [3.0, -np.inf, 5.0]
    assert scores["knn_fg"].tolist() == [3.0, -np.inf, 2.0]  # background detections left out
    assert scores["num_detections"].tolist() == [2.0, 0.0, 3.0]
    assert scores["num_background"].tolist() == [1.0, 0.0, 2.0]
    # the frame whose detections have the smallest tails is the most surprising
    assert np.argmax(scores["combined"]) == 2
    assert random.shape == (4, 3)


def test_a_perfect_ranking_has_full_recall_and_auroc() -> None:
    n = 400
    labels = np.zeros(n, dtype=np.int8)
    labels[:2] = 1  # 2 positives fit in a 1 % budget of the 399 evaluated frames
    labels[2] = -1  # ignored: neither positive nor negative, even with the top score
    perfect = np.where(labels == 1, 10.0, np.linspace(0, 1, n))
    perfect[2] = 99.0
    natural = {"perfect": perfect, "inverse": -perfect}
    enriched_labels = np.array([1, 1, 0], dtype=np.int8)
    enriched = {"perfect": np.array([9.0, 0.5, 20.0]), "inverse": np.array([-9.0, -0.5, -20.0])}
    rows = evaluate_seed(natural, labels, enriched, enriched_labels, BUDGETS)
    best, worst = rows["perfect"], rows["inverse"]
    assert best["natural"]["auroc"] == 1.0
    assert best["natural"]["recall_at_1pct"] == 1.0
    assert best["natural"]["lift_at_1pct"] == pytest.approx(1.0 / BUDGET)
    # enriched: the natural 1 % threshold decides; 9.0 clears it, 0.5 does not
    assert best["enriched"]["recall_at_1pct"] == pytest.approx(3 / 4)
    assert worst["natural"]["auroc"] == 0.0
    assert worst["natural"]["recall_at_1pct"] == 0.0
    summary = summarise([rows, rows])
    assert summary["perfect"]["natural"]["recall_at_1pct"]["mean"] == 1.0
    assert summary["perfect"]["natural"]["recall_at_1pct"]["std"] == 0.0
    assert len(summary["perfect"]["natural"]["mean_curve"]) == len(BUDGETS)


def test_detection_level_compares_on_object_detections_with_ordinary_ones() -> None:
    natural = drive([[(1.0, 1, ""), (2.0, 0, "")], [(3.0, 0, "")], [(9.0, 0, "dog")]], [0, 0, 30])
    enriched = drive([[(0.5, 2, "deer"), (7.0, 1, "")]], [30])
    y_n, y_e = frame_labels(natural.rare_points, 10), frame_labels(enriched.rare_points, 10)
    out = detection_level(natural, y_n, enriched, y_e)
    assert out["rare_detections"] == 2 and out["negative_detections"] == 3
    assert out["rare_detections_called_background"] == 0.5
    # rare 9.0 beats all three ordinary scores, rare 0.5 none: AUROC (3 + 0) / 6
    for name in SCORE_NAMES:
        assert out["auroc"][name] == pytest.approx(0.5)
        assert out["rare_share_above_negative_quantile"][name]["0.99"] == 0.5
    assert candidate_coverage(natural, y_n) == 1.0
    uncovered = drive([[(1.0, 1, "")], [(2.0, 1, "")]], [0, 40])
    assert candidate_coverage(uncovered, frame_labels(uncovered.rare_points, 10)) == 0.0
    assert math.isnan(candidate_coverage(uncovered, np.zeros(2, dtype=np.int8)))
