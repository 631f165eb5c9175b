"""Average precision and matching on hand-made cases with known answers, rotated boxes included."""

from __future__ import annotations

import math

import numpy as np
import pytest

from backend.errors import EvaluationError
from backend.evaluation.algo import (
    FrameEval,
    average_precision,
    evaluate,
    evaluate_class,
    json_safe,
)
from core.geometry import bev_iou_matrix, iou3d_matrix

CAR = np.array([10.0, 0.0, 0.0, 4.0, 2.0, 1.5, 0.0])


def _frame(
    dets: list[tuple[np.ndarray, str, float]], gts: list[tuple[np.ndarray, str]]
) -> FrameEval:
    return FrameEval(
        np.array([d[0] for d in dets]).reshape(-1, 7),
        tuple(d[1] for d in dets),
        np.array([d[2] for d in dets], dtype=np.float64),
        np.array([g[0] for g in gts]).reshape(-1, 7),
        tuple(g[1] for g in gts),
    )


def _shifted(box: np.ndarray, dx: float = 0.0, dy: float = 0.0) -> np.ndarray:
    out = box.copy()
    out[0] += dx
    out[1] += dy
    return out


def test_perfect_predictions_give_ap_one() -> None:
    assert average_precision([0.9, 0.8, 0.7], [True, True, True], 3) == 1.0


def test_one_false_positive_ranked_first() -> None:
    # precision at recall 1/2 and 1 is 1/2 and 2/3; the envelope is 2/3 at every level
    assert average_precision([0.9, 0.8, 0.7], [False, True, True], 2) == pytest.approx(2 / 3)


def test_false_positive_ranked_last_costs_nothing() -> None:
    assert average_precision([0.9, 0.8, 0.1], [True, True, False], 2) == 1.0


def test_missed_objects_cap_recall() -> None:
    # half the objects found, perfectly ranked: 20 of 40 recall levels reached with precision 1
    assert average_precision([0.9], [True], 2) == pytest.approx(0.5)
    assert average_precision([], [], 3) == 0.0
    assert math.isnan(average_precision([0.5], [False], 0))
    with pytest.raises(EvaluationError):
        average_precision([0.5, 0.4], [True], 1)


def test_matching_threshold_duplicates_and_classes() -> None:
    ped = np.array([5.0, 5.0, 0.0, 0.6, 0.6, 1.7, 0.0])
    frames = [
        _frame(
            [
                (_shifted(CAR, 0.2), "car", 0.9),  # IoU ~0.9: TP
                (_shifted(CAR, 0.1), "car", 0.8),  # duplicate: FP
                (ped, "car", 0.7),  # wrong class region: FP for car
            ],
            [(CAR, "car"), (ped, "pedestrian")],
        )
    ]
    r = evaluate_class(frames, "car", ("car", "pedestrian"), bev_iou_matrix, 0.5, 70.0)
    assert r["num_gt"] == 1 and r["true_positives"] == 1 and r["num_det"] == 3
    assert r["ap"] == 1.0  # the TP is ranked first
    strict = evaluate_class(frames, "car", ("car",), bev_iou_matrix, 0.97, 70.0)
    assert strict["true_positives"] == 0 and strict["ap"] == 0.0


def _along(box: np.ndarray, metres: float, turn: float = 0.0) -> np.ndarray:
    """``box`` moved ``metres`` along its own heading and turned by ``turn`` radians."""
    out = box.copy()
    out[0] += metres * math.cos(box[6])
    out[1] += metres * math.sin(box[6])
    out[6] += turn
    return out


@pytest.mark.parametrize("iou_kind", ["bev", "3d"])
def test_matching_of_rotated_boxes_uses_their_heading(iou_kind: str) -> None:
    # A car heading 45 degrees. ``moved``: 1 m along the heading, IoU 6/10 = 0.6, a true positive at
    # 0.5. ``crossed``: same centre turned 90 degrees, IoU 4/12, a false positive. A heading-blind
    # IoU would swap them (0.36 and 1.0) and rank a false positive first: AP 0.5 instead of 1.
    gt = np.array([20.0, 5.0, 0.0, 4.0, 2.0, 1.5, math.pi / 4])
    moved, crossed = _along(gt, 1.0), _along(gt, 0.0, turn=math.pi / 2)
    frames = [_frame([(moved, "car", 0.9), (crossed, "car", 0.8)], [(gt, "car")])]
    fns = {"bev": bev_iou_matrix, "3d": iou3d_matrix}
    r = evaluate(frames, {"car": (0.5, 0.7)}, {iou_kind: fns[iou_kind]})["car"][iou_kind]
    assert r["0.5"]["true_positives"] == 1 and r["0.5"]["ap"] == 1.0
    assert r["0.7"]["true_positives"] == 0 and r["0.7"]["ap"] == 0.0


def test_a_detection_with_the_opposite_heading_still_matches() -> None:
    # IoU is about the footprint: a box turned by pi covers the same ground
    gt = np.array([15.0, -4.0, 0.0, 4.0, 2.0, 1.5, 2.5])
    frames = [_frame([(_along(gt, 0.0, turn=math.pi), "car", 0.9)], [(gt, "car")])]
    r = evaluate_class(frames, "car", ("car",), bev_iou_matrix, 0.7, 70.0)
    assert r["true_positives"] == 1


def test_rare_objects_are_ignored_not_false_positives() -> None:
    deer = np.array([20.0, 3.0, 0.0, 1.5, 0.5, 1.2, 0.0])
    frames = [
        _frame([(deer, "pedestrian", 0.95), (CAR, "car", 0.5)], [(CAR, "car"), (deer, "deer")])
    ]
    r = evaluate_class(frames, "pedestrian", ("car", "pedestrian"), bev_iou_matrix, 0.25, 70.0)
    assert r["num_det"] == 0 and r["num_gt"] == 0


def test_range_cut_and_distance_bands() -> None:
    near, mid, far = _shifted(CAR, -5), _shifted(CAR, 20), _shifted(CAR, 45)
    beyond = _shifted(CAR, 80)
    frames = [
        _frame(
            [(near, "car", 0.9), (far, "car", 0.8)],
            [(near, "car"), (mid, "car"), (far, "car"), (beyond, "car")],
        )
    ]
    r = evaluate(frames, {"car": (0.5,)}, {"bev": bev_iou_matrix})["car"]["bev"]["0.5"]
    assert r["num_gt"] == 3
    assert r["recall_0_20m"] == 1.0 and r["recall_20_40m"] == 0.0 and r["recall_40_70m"] == 1.0
    # recall 2/3 reaches 26 of the 40 recall levels (27/40 > 2/3), all at precision 1
    assert r["ap"] == pytest.approx(26 / 40)


def test_json_safe_turns_nan_into_null() -> None:
    report = {"bus": {"ap": float("nan"), "rows": [1.0, float("nan")]}, "n": 3}
    assert json_safe(report) == {"bus": {"ap": None, "rows": [1.0, None]}, "n": 3}
