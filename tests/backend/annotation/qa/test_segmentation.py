"""Point-label IoU against scikit-learn's Jaccard score, and the weighted per-point consensus
against a plain per-point vote."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import jaccard_score

from backend.annotation.qa.segmentation import (
    IGNORE_INDEX,
    NUM_POINT_CLASSES,
    consensus_labels,
    segmentation_iou,
)
from backend.errors import QualityError
from core.classes import POINT_CLASS_IDS

ROAD, CAR, PED, TREE = (POINT_CLASS_IDS[c] for c in ("road", "car", "pedestrian", "vegetation"))
USED = np.array([ROAD, CAR, PED, TREE])


def _noisy(
    rng: np.random.Generator, truth: np.ndarray, error: float, unlabelled: float
) -> np.ndarray:
    out = truth.copy()
    wrong = rng.random(truth.shape) < error
    out[wrong] = rng.choice(USED, int(wrong.sum()))
    out[rng.random(truth.shape) < unlabelled] = IGNORE_INDEX
    return out


@pytest.mark.parametrize("seed", range(5))
def test_per_class_iou_matches_sklearn_jaccard(seed: int) -> None:
    rng = np.random.default_rng(seed)
    truth = rng.choice(USED, 5000, p=[0.6, 0.2, 0.05, 0.15])
    reference = _noisy(rng, truth, 0.05, 0.1)
    candidate = _noisy(rng, truth, float(rng.uniform(0, 0.5)), 0.05)
    result = segmentation_iou(candidate, reference)
    keep = reference != IGNORE_INDEX  # SemanticKITTI: the reference's unlabelled points drop out
    want = jaccard_score(reference[keep], candidate[keep], labels=result.class_ids, average=None)
    np.testing.assert_allclose(result.iou, want, atol=1e-12)
    assert result.miou == pytest.approx(float(np.mean(want)))
    assert result.n_points == int(keep.sum())
    assert set(result.class_ids.tolist()) <= set(USED.tolist())


def test_iou_edge_cases() -> None:
    labels = np.array([ROAD, ROAD, CAR, IGNORE_INDEX])
    perfect = segmentation_iou(labels, labels)
    assert perfect.class_ids.tolist() == [ROAD, CAR] and perfect.miou == 1.0
    # the candidate skipped a car point: a miss of "car", nothing else
    skipped = segmentation_iou(np.array([ROAD, ROAD, IGNORE_INDEX, CAR]), labels)
    assert skipped.iou.tolist() == [1.0, 0.0]
    assert math.isnan(segmentation_iou(np.zeros(3, np.int64), np.zeros(3, np.int64)).miou)
    assert segmentation_iou(np.zeros(0, np.int64), np.zeros(0, np.int64)).n_points == 0
    with pytest.raises(QualityError, match="candidate has 2 points, reference 3"):
        segmentation_iou(np.zeros(2, np.int64), np.zeros(3, np.int64))
    with pytest.raises(QualityError, match=rf"must be in \[0, {NUM_POINT_CLASSES}\)"):
        segmentation_iou(np.array([70]), np.array([1]))
    with pytest.raises(QualityError, match="integer label array"):
        segmentation_iou(np.array([1.0]), np.array([1]))


def _loop_consensus(labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The obvious per-point weighted vote (a loop over points; only for the test's small sets)."""
    out = np.zeros(labels.shape[1], dtype=np.int64)
    for p in range(labels.shape[1]):
        score: dict[int, float] = {}
        for k in range(labels.shape[0]):
            if labels[k, p] != IGNORE_INDEX:
                score[int(labels[k, p])] = score.get(int(labels[k, p]), 0.0) + float(weights[k])
        positive = {c: s for c, s in score.items() if s > 0}
        if positive:
            best = max(positive.values())
            out[p] = min(c for c, s in positive.items() if s == best)
    return out


def test_weighted_consensus_matches_a_plain_vote() -> None:
    rng = np.random.default_rng(11)
    truth = rng.choice(USED, 3000)
    labels = np.stack([_noisy(rng, truth, e, 0.1) for e in (0.1, 0.3, 0.5, 0.6)])
    # weights on a 1/8 grid: sums are exact in floating point, so ties in the loop and in the
    # vectorised vote are the same ties
    for weights in (np.ones(4), np.array([0.875, 0.5, 0.25, 0.25]), np.array([0.0, 1.0, 1.0, 0.5])):
        np.testing.assert_array_equal(
            consensus_labels(labels, weights), _loop_consensus(labels, weights)
        )


def test_consensus_weights_ties_and_abstentions() -> None:
    labels = np.array(
        [
            [CAR, CAR, ROAD, IGNORE_INDEX],
            [PED, PED, TREE, IGNORE_INDEX],
            [PED, ROAD, IGNORE_INDEX, IGNORE_INDEX],
        ]
    )
    # point 0: car (0.9) against pedestrian (0.6 + 0.5); point 1: a three-way split
    assert consensus_labels(labels, [0.9, 0.6, 0.5]).tolist() == [PED, CAR, ROAD, IGNORE_INDEX]
    assert consensus_labels(labels, [0.9, 0.3, 0.5]).tolist()[:2] == [CAR, CAR]
    # equal weights: point 2 is a road/vegetation tie, broken to the smaller id (road)
    assert consensus_labels(labels).tolist() == [
        PED,
        min(CAR, PED, ROAD),
        min(ROAD, TREE),
        IGNORE_INDEX,
    ]
    with pytest.raises(QualityError, match="need 3 finite weights"):
        consensus_labels(labels, [1.0, -1.0, 1.0])


def test_accuracy_weighted_consensus_beats_each_annotator() -> None:
    """Two careful annotators and three careless ones: the vote weighted by gold accuracy is
    closer to the truth than any single annotator and than the unweighted vote."""
    rng = np.random.default_rng(5)
    truth = rng.choice(USED, 20_000, p=[0.5, 0.25, 0.1, 0.15])
    errors = (0.08, 0.1, 0.55, 0.6, 0.65)
    labels = np.stack([_noisy(rng, truth, e, 0.02) for e in errors])
    weights = np.array([segmentation_iou(lab, truth).miou for lab in labels])  # "gold accuracy"
    best_single = max(segmentation_iou(lab, truth).miou for lab in labels)
    weighted = segmentation_iou(consensus_labels(labels, weights**4), truth).miou
    plain = segmentation_iou(consensus_labels(labels), truth).miou
    assert weighted > best_single and weighted > plain
