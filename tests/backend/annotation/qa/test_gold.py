"""Gold accuracy and the calibration rule on a simulated crowd: careful annotators pass, a
careless one scores lower, a spammer is flagged, a newcomer is not judged yet."""

from __future__ import annotations

import math

import numpy as np
import pytest

from backend.annotation.qa.gold import GoldAccuracy, flag_outliers, gold_accuracy
from backend.annotation.qa.matching import FrameMatch, match_frame
from backend.errors import QualityError

CLASSES = ("car", "truck", "pedestrian", "cyclist")
SIZES = {
    "car": (4.5, 1.9, 1.6),
    "truck": (8.0, 2.5, 3.2),
    "pedestrian": (0.7, 0.7, 1.8),
    "cyclist": (1.8, 0.7, 1.7),
}


def _gold_frame(rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    n = int(rng.integers(4, 10))
    classes = [CLASSES[i] for i in rng.integers(0, 4, n)]
    xy = np.stack([np.arange(n) * 12.0 + rng.uniform(-2, 2, n), rng.uniform(-20, 20, n)], axis=1)
    size = np.array([SIZES[c] for c in classes])
    boxes = np.column_stack([xy, size[:, 2] / 2 - 1.7, size, rng.uniform(-math.pi, math.pi, n)])
    return boxes, classes


def _label(
    rng: np.random.Generator,
    boxes: np.ndarray,
    classes: list[str],
    centre_sd: float,
    miss: float,
    wrong_class: float,
) -> tuple[np.ndarray, list[str]]:
    keep = rng.random(len(classes)) >= miss
    out = boxes[keep].copy()
    out[:, :3] += rng.normal(0, centre_sd, (out.shape[0], 3)) * [1, 1, 0.3]
    labels = [
        CLASSES[int(rng.integers(0, 4))] if rng.random() < wrong_class else c
        for c, k in zip(classes, keep.tolist(), strict=True)
        if k
    ]
    return out, labels


def _spam(rng: np.random.Generator, boxes: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Random boxes somewhere in the frame with random classes."""
    n = int(boxes.shape[0])
    out = boxes[rng.permutation(n)].copy()
    out[:, :2] = rng.uniform(-20, 100, (n, 2))
    return out, [CLASSES[i] for i in rng.integers(0, 4, size=n).tolist()]


def test_calibration_flags_the_spammer() -> None:
    rng = np.random.default_rng(8)
    gold = [_gold_frame(rng) for _ in range(8)]
    profiles = {
        "ann-a": (0.05, 0.0, 0.0),
        "ann-b": (0.08, 0.05, 0.02),
        "ann-c": (0.06, 0.0, 0.05),
        "careless": (0.25, 0.25, 0.2),
    }
    tasks: dict[str, list[FrameMatch]] = {}
    for name, (sd, miss, wrong) in profiles.items():
        tasks[name] = [match_frame(*_label(rng, b, c, sd, miss, wrong), b, c) for b, c in gold]
    tasks["spammer"] = [match_frame(*_spam(rng, b), b, c) for b, c in gold]
    tasks["newcomer"] = [match_frame(b, c, b, c) for b, c in gold[:2]]
    acc = {name: gold_accuracy(t) for name, t in tasks.items()}
    assert acc["ann-a"].accuracy > 0.95 and acc["ann-a"].class_agreement == 1.0
    assert acc["careless"].accuracy < min(acc[a].accuracy for a in ("ann-a", "ann-b", "ann-c"))
    assert acc["spammer"].accuracy < 0.2
    # "draws well, names wrongly" shows as geometric F1 above the class-aware accuracy
    assert acc["ann-c"].geometric_f1 > acc["ann-c"].accuracy
    verdicts = flag_outliers(acc, min_tasks=5, min_accuracy=0.5)
    assert verdicts["spammer"].status == "flagged"
    assert any("below the floor" in r for r in verdicts["spammer"].reasons)
    assert all(verdicts[a].status == "ok" for a in ("ann-a", "ann-b", "ann-c"))
    assert verdicts["newcomer"].status == "insufficient" and verdicts["newcomer"].n_tasks == 2


def test_relative_rule_and_settings() -> None:
    def g(accuracy: float, n: int = 10) -> GoldAccuracy:
        return GoldAccuracy(n, accuracy, accuracy, 1.0, 0.8, 10 * n, 10 * n)

    group = {"a": g(0.95), "b": g(0.93), "c": g(0.9), "d": g(0.68)}
    # above the floor, but more than 0.2 below the median (0.915)
    v = flag_outliers(group, min_accuracy=0.6, max_below_median=0.2)
    assert v["d"].status == "flagged" and "median 0.915" in v["d"].reasons[0]
    assert flag_outliers(group, min_accuracy=0.6, max_below_median=0.3)["d"].status == "ok"
    assert flag_outliers({}) == {}
    with pytest.raises(QualityError, match="min_tasks"):
        flag_outliers(group, min_tasks=0)
    with pytest.raises(QualityError, match="min_accuracy"):
        flag_outliers(group, min_accuracy=1.5)


def test_gold_accuracy_of_nothing() -> None:
    empty = gold_accuracy([])
    assert empty.n_tasks == 0 and empty.accuracy == 1.0 and math.isnan(empty.mean_iou_3d)
