"""Box IoU against exact formulas (axis-aligned and rotated) and Monte-Carlo estimates on random
boxes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.geometry import (
    bev_iou_matrix,
    box_corners_3d,
    box_corners_bev,
    iou3d_matrix,
    points_in_boxes,
)


def _inside(xy: np.ndarray, box: np.ndarray) -> np.ndarray:
    c, s = math.cos(box[6]), math.sin(box[6])
    dx, dy = xy[:, 0] - box[0], xy[:, 1] - box[1]
    u, v = c * dx + s * dy, -s * dx + c * dy
    inside: np.ndarray = (np.abs(u) <= box[3] / 2) & (np.abs(v) <= box[4] / 2)
    return inside


def _monte_carlo_bev_iou(a: np.ndarray, b: np.ndarray, n: int = 200_000) -> float:
    corners = np.concatenate([box_corners_bev(a[None])[0], box_corners_bev(b[None])[0]])
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    xy = np.random.default_rng(0).uniform(lo, hi, size=(n, 2))
    ia, ib = _inside(xy, a), _inside(xy, b)
    union = (ia | ib).sum()
    return float((ia & ib).sum() / union) if union else 0.0


box_strategy = st.tuples(
    st.floats(-3, 3),
    st.floats(-3, 3),
    st.floats(-1, 1),
    st.floats(0.3, 5),
    st.floats(0.3, 3),
    st.floats(0.3, 3),
    st.floats(-math.pi, math.pi),
)


@settings(max_examples=40, deadline=None)
@given(box_strategy, box_strategy)
def test_bev_iou_matches_monte_carlo(a: tuple[float, ...], b: tuple[float, ...]) -> None:
    aa, bb = np.array(a), np.array(b)
    exact = bev_iou_matrix(aa[None], bb[None])[0, 0]
    assert exact == pytest.approx(_monte_carlo_bev_iou(aa, bb), abs=0.015)
    assert bev_iou_matrix(bb[None], aa[None])[0, 0] == pytest.approx(exact, abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(box_strategy, box_strategy)
def test_iou3d_is_bev_intersection_times_z_overlap(
    a: tuple[float, ...], b: tuple[float, ...]
) -> None:
    aa, bb = np.array(a), np.array(b)
    bev = bev_iou_matrix(aa[None], bb[None])[0, 0]
    area_a, area_b = aa[3] * aa[4], bb[3] * bb[4]
    inter_area = bev * (area_a + area_b) / (1 + bev)
    dz = max(
        0.0, min(aa[2] + aa[5] / 2, bb[2] + bb[5] / 2) - max(aa[2] - aa[5] / 2, bb[2] - bb[5] / 2)
    )
    inter = inter_area * dz
    want = inter / (area_a * aa[5] + area_b * bb[5] - inter)
    assert iou3d_matrix(aa[None], bb[None])[0, 0] == pytest.approx(want, abs=1e-9)


def test_axis_aligned_iou_is_exact() -> None:
    a = np.array([[0.0, 0.0, 0.0, 4.0, 2.0, 2.0, 0.0]])
    b = np.array([[1.0, 0.5, 0.5, 4.0, 2.0, 2.0, 0.0]])
    inter = 3.0 * 1.5
    assert bev_iou_matrix(a, b)[0, 0] == pytest.approx(inter / (16 - inter))
    assert iou3d_matrix(a, b)[0, 0] == pytest.approx(inter * 1.5 / (32 - inter * 1.5))


def _rotated_pair(yaw: float, turn: float, along: float) -> tuple[np.ndarray, np.ndarray]:
    """A 4 x 2 m box heading ``yaw`` and a copy turned by ``turn`` and moved ``along`` metres
    along the first box's heading."""
    a = np.array([[12.0, -3.0, 0.5, 4.0, 2.0, 1.5, yaw]])
    b = a.copy()
    b[0, 0] += along * math.cos(yaw)
    b[0, 1] += along * math.sin(yaw)
    b[0, 6] += turn
    return a, b


@pytest.mark.parametrize("yaw", [0.3, math.pi / 4, -2.0, 3.0])
def test_rotated_boxes_have_exact_iou_that_depends_on_their_heading(yaw: float) -> None:
    # crossing at right angles: a 2 x 2 m square in common, IoU 4 / (8 + 8 - 4); a heading-blind
    # IoU (both boxes axis-aligned) would call them identical
    a, crossed = _rotated_pair(yaw, math.pi / 2, 0.0)
    assert bev_iou_matrix(a, crossed)[0, 0] == pytest.approx(1 / 3, abs=1e-12)
    assert iou3d_matrix(a, crossed)[0, 0] == pytest.approx(1 / 3, abs=1e-12)
    # moved 1 m along the heading: 3 x 2 m in common, IoU 6 / 10; heading-blind it depends on yaw
    a, moved = _rotated_pair(yaw, 0.0, 1.0)
    assert bev_iou_matrix(a, moved)[0, 0] == pytest.approx(0.6, abs=1e-12)
    assert iou3d_matrix(a, moved)[0, 0] == pytest.approx(0.6, abs=1e-12)


def test_identical_half_turned_and_disjoint_boxes() -> None:
    a = np.array([[5.0, -2.0, 0.0, 4.0, 1.8, 1.5, 0.3]])
    turned = a.copy()
    turned[0, 6] += math.pi
    far = a.copy()
    far[0, 0] += 10
    assert bev_iou_matrix(a, a)[0, 0] == pytest.approx(1.0)
    assert bev_iou_matrix(a, turned)[0, 0] == pytest.approx(1.0)
    assert bev_iou_matrix(a, far)[0, 0] == 0.0
    assert iou3d_matrix(a, np.zeros((0, 7))).shape == (1, 0)


def test_corners_are_counter_clockwise_and_span_the_box() -> None:
    box = np.array([[1.0, 2.0, 3.0, 4.0, 2.0, 1.0, 0.5]])
    c = box_corners_bev(box)[0]
    signed = 0.5 * sum(c[i, 0] * c[(i + 1) % 4, 1] - c[(i + 1) % 4, 0] * c[i, 1] for i in range(4))
    assert signed == pytest.approx(8.0)
    c3 = box_corners_3d(box)[0]
    assert c3[:, 2].min() == pytest.approx(2.5) and c3[:, 2].max() == pytest.approx(3.5)


def test_points_in_boxes_with_margin() -> None:
    boxes = np.array([[0.0, 0.0, 0.0, 2.0, 1.0, 1.0, math.pi / 2]])
    pts = np.array([[0.0, 0.9, 0.0], [0.9, 0.0, 0.0], [0.0, 1.1, 0.0]], dtype=np.float32)
    assert points_in_boxes(pts, boxes).tolist() == [0, -1, -1]
    assert points_in_boxes(pts, boxes, margin=0.2).tolist() == [0, -1, 0]
    assert points_in_boxes(pts, boxes, margin=0.45).tolist() == [0, 0, 0]
