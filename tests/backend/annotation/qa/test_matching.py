"""Two-pass cuboid matching: class thresholds, optimal assignment, class mismatches, per-pair
errors and summaries, empty frames."""

from __future__ import annotations

import math

import numpy as np
import pytest

from backend.annotation.qa.matching import MatchSettings, PairMetrics, match_frame, summarize
from backend.errors import QualityError
from core.geometry import iou3d_matrix


def _box(x: float, y: float = 0.0, yaw: float = 0.0, l: float = 4.0) -> list[float]:  # noqa: E741
    return [x, y, 0.0, l, 2.0, 1.5, yaw]


def _pairs(p: PairMetrics) -> list[tuple[int, int]]:
    return sorted(zip(p.candidate.tolist(), p.reference.tolist(), strict=True))


def test_identical_sets_match_perfectly() -> None:
    boxes = np.array([_box(0), _box(10, 3, 0.4), _box(-8, -5, -2.0)])
    classes = ["car", "pedestrian", "debris"]
    m = match_frame(boxes, classes, boxes[::-1], classes[::-1])
    assert _pairs(m.matched) == [
        (0, 2),
        (1, 1),
        (2, 0),
    ]
    s = summarize([m])
    assert (s.precision, s.recall, s.f1, s.class_agreement) == (1.0, 1.0, 1.0, 1.0)
    assert s.mean_iou_3d == pytest.approx(1.0) and s.mean_centre_error_m == 0.0
    assert m.unmatched_candidate.size == 0 and m.unmatched_reference.size == 0


def test_class_thresholds_are_data() -> None:
    # a 4 m box shifted 1 m along its length: IoU 3/5 = 0.6, between the two default thresholds
    ref = np.array([_box(0)])
    cand = np.array([_box(1.0)])
    assert iou3d_matrix(cand, ref)[0, 0] == pytest.approx(0.6)
    assert len(match_frame(cand, ["car"], ref, ["car"]).matched) == 0  # vehicles need 0.7
    assert len(match_frame(cand, ["pedestrian"], ref, ["pedestrian"]).matched) == 1  # VRU 0.5
    assert len(match_frame(cand, ["deer"], ref, ["deer"]).matched) == 1  # everything else 0.5
    lenient = MatchSettings(class_thresholds={"car": 0.55})
    assert len(match_frame(cand, ["car"], ref, ["car"], lenient).matched) == 1
    strict = MatchSettings(default_threshold=0.65)
    assert len(match_frame(cand, ["deer"], ref, ["deer"], strict).matched) == 0


def test_hungarian_beats_greedy() -> None:
    """Greedy (best pair first) takes A1-B1 (IoU 0.86) and leaves A2 with only B2 (0.43 < 0.5):
    one match. The assignment pairs A1-B2 (0.70) and A2-B1 (0.74): two matches."""
    ref = np.array([_box(0.0), _box(1.0)])
    cand = np.array([_box(0.3), _box(-0.6)])
    cls = ["pedestrian", "pedestrian"]
    iou = iou3d_matrix(cand, ref)
    assert iou[0, 0] > iou[0, 1] and iou[0, 0] > iou[1, 0] and iou[1, 1] < 0.5
    m = match_frame(cand, cls, ref, cls)
    assert _pairs(m.matched) == [
        (0, 1),
        (1, 0),
    ]


def test_class_mismatch_second_pass() -> None:
    ref = np.array([_box(0), _box(20), _box(40)])
    cand = np.array([_box(0.1), _box(20.0), _box(41.2), _box(60)])
    m = match_frame(cand, ["truck", "car", "car", "car"], ref, ["car", "car", "car"])
    assert _pairs(m.matched) == [(1, 1)]
    # box 0: same object, other class; box 2: a car below the car threshold (IoU 0.54) is a
    # geometry miss, not a class mismatch
    assert _pairs(m.mismatched) == [(0, 0)]
    assert not m.mismatched.same_class.any() and m.matched.same_class.all()
    assert m.unmatched_candidate.tolist() == [2, 3]
    assert m.unmatched_reference.tolist() == [2]
    s = summarize([m])
    assert s.precision == pytest.approx(1 / 4) and s.recall == pytest.approx(1 / 3)
    assert s.f1 == pytest.approx(2 / 7) and s.geometric_f1 == pytest.approx(4 / 7)
    assert s.class_agreement == pytest.approx(0.5)


def test_per_pair_errors_and_the_half_turn() -> None:
    ref = np.array([_box(0.0, 0.0, 0.3), _box(10.0, 0.0, 1.0)])
    cand = np.array([_box(0.3, 0.4, 0.3 + math.pi), _box(10.0, 0.0, 1.1)])
    m = match_frame(cand, ["car", "car"], ref, ["car", "car"], MatchSettings(class_thresholds={}))
    order = np.argsort(m.matched.candidate)
    p = m.matched
    np.testing.assert_allclose(p.centre_error_m[order], [0.5, 0.0], atol=1e-12)
    np.testing.assert_allclose(p.heading_error_rad[order], [math.pi, 0.1], atol=1e-12)
    np.testing.assert_allclose(p.heading_error_flip_rad[order], [0.0, 0.1], atol=1e-12)
    s = summarize([m])
    assert s.mean_heading_error_rad == pytest.approx((math.pi + 0.1) / 2)
    assert s.mean_heading_error_flip_rad == pytest.approx(0.05)
    assert s.mean_iou_bev >= s.mean_iou_3d > 0.5


def test_bev_kind_ignores_height() -> None:
    ref = np.array([_box(0)])
    cand = ref.copy()
    cand[0, 2] += 1.2  # 1.5 m tall boxes, 1.2 m apart in z: 3D IoU 0.11, BEV IoU 1
    assert len(match_frame(cand, ["car"], ref, ["car"]).matched) == 0
    bev = match_frame(cand, ["car"], ref, ["car"], MatchSettings(iou_kind="bev"))
    assert len(bev.matched) == 1 and bev.matched.iou_bev[0] == pytest.approx(1.0)


def test_empty_frames_and_degenerate_boxes() -> None:
    none = np.zeros((0, 7))
    three = np.array([_box(0), _box(10), _box(20)])
    cls = ["car"] * 3
    both_empty = summarize([match_frame(none, [], none, [])])
    assert (both_empty.precision, both_empty.recall, both_empty.f1) == (1.0, 1.0, 1.0)
    assert math.isnan(both_empty.mean_iou_3d) and math.isnan(both_empty.class_agreement)
    missed = summarize([match_frame(none, [], three, cls)])
    assert (missed.precision, missed.recall, missed.f1) == (1.0, 0.0, 0.0)
    invented = match_frame(three, cls, [], [])
    assert invented.unmatched_candidate.tolist() == [0, 1, 2]
    assert summarize([invented]).precision == 0.0
    # a NaN or zero-size box is never matched, not even to itself
    bad = np.array([[0, 0, 0, 0, 0, 1.5, 0], [np.nan, 0, 0, 4, 2, 1.5, 0]])
    m = match_frame(bad, ["car", "car"], bad, ["car", "car"])
    assert len(m.matched) == 0 and len(m.mismatched) == 0


def test_summary_pools_frames() -> None:
    ref = np.array([_box(0), _box(10)])
    f1 = match_frame(ref, ["car", "car"], ref, ["car", "car"])
    f2 = match_frame(ref[:1], ["car"], ref, ["car", "car"])
    s = summarize([f1, f2])
    assert (s.frames, s.n_candidate, s.n_reference, s.matched) == (2, 3, 4, 3)
    assert s.recall == pytest.approx(3 / 4) and s.precision == 1.0


def test_bad_inputs_name_the_problem() -> None:
    with pytest.raises(QualityError, match="candidate: 2 boxes but 1 class names"):
        match_frame(np.zeros((2, 7)), ["car"], np.zeros((0, 7)), [])
    with pytest.raises(QualityError, match=r"reference boxes: expected shape \(N, 7\)"):
        match_frame(np.zeros((0, 7)), [], np.zeros((2, 5)), ["a", "b"])
    for bad in (0.0, 1.5, math.nan):
        with pytest.raises(QualityError, match="not in \\(0, 1\\]"):
            MatchSettings(class_thresholds={"car": bad})
    with pytest.raises(QualityError, match="iou_kind"):
        MatchSettings(iou_kind="2d")  # type: ignore[arg-type]
