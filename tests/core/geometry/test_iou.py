"""The one rotated IoU: published reference values, shapely on random boxes, symmetry, degenerate
boxes and heading sensitivity.

Reference values are other projects' test expectations, re-expressed in our box convention
``(x, y, z, l, w, h, yaw)`` (yaw counter-clockwise about +z, centre of the box). Each test names
its source; the numbers are theirs, the conversions ours.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pytest
import shapely

from core.geometry import (
    bev_iou_matrix,
    bev_iou_pairs,
    box_corners_bev,
    iou3d_matrix,
    iou3d_pairs,
    valid_box_mask,
)

F64 = npt.NDArray[np.float64]


def _five_to_seven(rows: Sequence[Sequence[float]], yaw_sign: float, degrees: bool = False) -> F64:
    """2D rotated boxes ``(x, y, w, h, angle)`` as unit-height boxes ``(x, y, 0, w, h, 1, yaw)``."""
    b = np.asarray(rows, dtype=np.float64)
    angle = np.deg2rad(b[:, 4]) if degrees else b[:, 4]
    n = b.shape[0]
    return np.column_stack(
        [b[:, 0], b[:, 1], np.zeros(n), b[:, 2], b[:, 3], np.ones(n), yaw_sign * angle]
    )


def _corners_to_box(corners: list[list[float]]) -> F64:
    """A pytorch3d 8-corner box (corners 0-1 one short edge, 0-4 the long edge, z vertical) as
    ``(1, 7)``; the test corners are given to 4 decimals, so they are rectangles to ~1e-4 m."""
    c = np.asarray(corners, dtype=np.float64)
    long_edge, short_edge = c[4, :2] - c[0, :2], c[1, :2] - c[0, :2]
    centre = c.mean(axis=0)
    return np.array(
        [
            [
                centre[0],
                centre[1],
                centre[2],
                float(np.hypot(*long_edge)),
                float(np.hypot(*short_edge)),
                float(np.ptp(c[:, 2])),
                math.atan2(long_edge[1], long_edge[0]),
            ]
        ]
    )


# ---------------------------------------------------------------- published reference values


def test_mmcv_box_iou_rotated_matrix_and_aligned() -> None:
    """open-mmlab/mmcv ``tests/test_ops/test_box_iou_rotated.py`` (``test_box_iou_rotated_cpu``):
    boxes ``(x, y, w, h, angle)``, angle clockwise in image coordinates (y down), which is
    counter-clockwise in the numbers' own x-y frame: our yaw is the angle as given."""
    b1 = _five_to_seven(
        [[1.0, 1.0, 3.0, 4.0, 0.5], [2.0, 2.0, 3.0, 4.0, 0.6], [7.0, 7.0, 8.0, 8.0, 0.4]], 1.0
    )
    b2 = _five_to_seven(
        [[0.0, 2.0, 2.0, 5.0, 0.3], [2.0, 1.0, 3.0, 3.0, 0.5], [5.0, 5.0, 6.0, 7.0, 0.4]], 1.0
    )
    expected = np.array(
        [[0.3708, 0.4351, 0.0000], [0.1104, 0.4487, 0.0424], [0.0000, 0.0000, 0.3622]]
    )
    np.testing.assert_allclose(bev_iou_matrix(b1, b2), expected, atol=1e-4)
    np.testing.assert_allclose(bev_iou_pairs(b1, b2), [0.3708, 0.4487, 0.3622], atol=1e-4)
    # unit heights at z = 0: the 3D IoU equals the BEV IoU
    np.testing.assert_allclose(iou3d_matrix(b1, b2), expected, atol=1e-4)


def test_mmcv_boxes_iou3d_and_overlap_bev() -> None:
    """open-mmlab/mmcv ``tests/test_ops/test_iou3d.py`` (``test_boxes_iou3d``,
    ``test_boxes_overlap_bev``): LiDAR boxes ``(x, y, z, dx, dy, dz, heading)``, as ours."""
    b1 = np.array(
        [
            [1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 0.0],
            [2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 0.0],
            [3.0, 3.0, 3.0, 3.0, 2.0, 2.0, 0.0],
        ]
    )
    b2 = np.array(
        [
            [1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 0.0],
            [1.0, 1.0, 1.0, 2.0, 2.0, 2.0, np.pi / 2],
            [1.0, 1.0, 1.0, 2.0, 2.0, 2.0, np.pi / 4],
        ]
    )
    expected_3d = np.array(
        [[1.0, 1.0, 1.0 / 2**0.5], [1.0 / 15, 1.0 / 15, 1.0 / 15], [0.0, 0.0, 0.0]]
    )
    np.testing.assert_allclose(iou3d_matrix(b1, b2), expected_3d, atol=1e-12)
    # their expected BEV overlap *areas*; our BEV IoU is area / (4 + area_b - area)
    overlaps = np.array([[4.0, 4.0, (8 + 8 * 2**0.5) / (3 + 2 * 2**0.5)], [1.0, 1.0, 1.0]])
    area1 = (b1[:2, 3] * b1[:2, 4])[:, None]
    area2 = (b2[:, 3] * b2[:, 4])[None, :]
    want_bev = overlaps / (area1 + area2 - overlaps)
    np.testing.assert_allclose(bev_iou_matrix(b1[:2], b2), want_bev, atol=1e-12)


def test_detectron2_pairwise_iou_rotated() -> None:
    """facebookresearch/detectron2 ``tests/structures/test_rotated_boxes.py``
    (``test_pairwise_iou_0_degree``, ``_45_degrees``, ``_orthogonal``, ``_large_close_boxes``,
    ``_issue1207``, ``test_iou_precision``, ``test_iou_half_overlap``): boxes
    ``(x, y, w, h, angle)``, angle in degrees counter-clockwise in image coordinates (y down),
    clockwise in the numbers' own x-y frame: our yaw is minus the angle."""

    def iou(r1: Sequence[float], r2: Sequence[float]) -> float:
        a = _five_to_seven([r1], -1.0, degrees=True)
        b = _five_to_seven([r2], -1.0, degrees=True)
        return float(bev_iou_matrix(a, b)[0, 0])

    unit = [0.5, 0.5, 1.0, 1.0, 0.0]
    assert iou(unit, [0.25, 0.5, 0.5, 1.0, 0.0]) == pytest.approx(0.5, abs=1e-12)
    assert iou(unit, [0.5, 0.25, 1.0, 0.5, 0.0]) == pytest.approx(0.5, abs=1e-12)
    assert iou(unit, [0.25, 0.25, 0.5, 0.5, 0.0]) == pytest.approx(0.25, abs=1e-12)
    assert iou(unit, [1.0, 1.0, 1.0, 1.0, 0.0]) == pytest.approx(0.25 / (2 - 0.25), abs=1e-12)
    square = [1, 1, 2, 2, 0]
    assert iou([1, 1, math.sqrt(2), math.sqrt(2), 45], square) == pytest.approx(0.5, abs=1e-12)
    assert iou([1, 1, 2 * math.sqrt(2), 2 * math.sqrt(2), -45], square) == pytest.approx(
        0.5, abs=1e-12
    )
    orthogonal = 36.0 / (36.0 + 24.0 + 24.0)
    assert iou([5, 5, 10, 6, 55], [5, 5, 10, 6, -35]) == pytest.approx(orthogonal, abs=1e-12)
    close = iou(
        [299.500000, 417.370422, 600.000000, 364.259186, 27.1828],
        [299.500000, 417.370422, 600.000000, 364.259155, 27.1828],
    )
    assert close == pytest.approx(364.259155 / 364.259186, abs=1e-12)
    assert iou([565, 565, 10, 10, 0], [565, 565, 10, 8.3, 0]) == pytest.approx(0.83, abs=1e-12)
    # issue 1207: near-miss boxes that once gave a spurious overlap
    assert iou([3, 3, 8, 2, -45.0], [6, 0, 8, 2, -45.0]) == 0.0
    assert iou([160.0, 153.0, 230.0, 23.0, -37.0], [190.0, 127.0, 80.0, 21.0, -46.0]) == 0.0
    # test_iou_extreme: astronomically far boxes give a finite, non-negative IoU
    far = [
        -1.117407639806935e17,
        1.3858420478349148e18,
        1000.0000610351562,
        1000.0000610351562,
        1612.0,
    ]
    assert iou([160.0, 153.0, 230.0, 23.0, -37.0], far) == 0.0


def test_pytorch3d_iou_box3d_yaw_only_cases() -> None:
    """facebookresearch/pytorch3d ``tests/test_iou_box3d.py`` (``_test_iou``): the cases whose
    boxes rotate about the vertical only. Tests 2-4: the unit cube shifted by (dx, dy, dz) shares
    (1-dx)(1-dy)(1-dz); test 13 (their issue #992): 2 m cubes at (0,0,0) and (-1,1,0) share 2 m^3;
    tests 18 and 19 (their issue #1287): real LiDAR boxes given by 8 corners, intersection volumes
    measured in Meshlab."""
    unit = np.array([[0.5, 0.5, 0.5, 1.0, 1.0, 1.0, 0.0]])
    for dx, dy, dz in ((0.0, 0.3, 0.0), (0.7, 0.0, 0.0), (0.2, 0.45, 0.9)):
        inter = (1 - dx) * (1 - dy) * (1 - dz)
        shifted = unit + np.array([[dx, dy, dz, 0, 0, 0, 0]])
        assert iou3d_matrix(unit, shifted)[0, 0] == pytest.approx(inter / (2 - inter), abs=1e-12)
    a13 = np.array([[0.0, 0.0, 0.0, 2.0, 2.0, 2.0, 0.0]])
    b13 = np.array([[-1.0, 1.0, 0.0, 2.0, 2.0, 2.0, 0.0]])
    assert iou3d_matrix(a13, b13)[0, 0] == pytest.approx(2.0 / (8 + 8 - 2), abs=1e-12)

    box18a = _corners_to_box(
        [
            [-105.6248, -32.7026, -1.2279], [-106.4690, -30.8895, -1.2279],
            [-106.4690, -30.8895, -3.0279], [-105.6248, -32.7026, -3.0279],
            [-110.1575, -34.8132, -1.2279], [-111.0017, -33.0001, -1.2279],
            [-111.0017, -33.0001, -3.0279], [-110.1575, -34.8132, -3.0279],
        ]
    )  # fmt: skip
    box18b = _corners_to_box(
        [
            [-105.5094, -32.9504, -1.0641], [-106.4272, -30.9793, -1.0641],
            [-106.4272, -30.9793, -3.1916], [-105.5094, -32.9504, -3.1916],
            [-110.0421, -35.0609, -1.0641], [-110.9599, -33.0899, -1.0641],
            [-110.9599, -33.0899, -3.1916], [-110.0421, -35.0609, -3.1916],
        ]
    )  # fmt: skip
    box19a = _corners_to_box(
        [
            [-59.4785, -15.6003, 0.4398], [-60.2263, -13.6928, 0.4398],
            [-60.2263, -13.6928, -1.3909], [-59.4785, -15.6003, -1.3909],
            [-64.1743, -17.4412, 0.4398], [-64.9221, -15.5337, 0.4398],
            [-64.9221, -15.5337, -1.3909], [-64.1743, -17.4412, -1.3909],
        ]
    )  # fmt: skip
    box19b = _corners_to_box(
        [
            [-59.4874, -15.5775, -0.1512], [-60.2174, -13.7155, -0.1512],
            [-60.2174, -13.7155, -1.9820], [-59.4874, -15.5775, -1.9820],
            [-64.1832, -17.4185, -0.1512], [-64.9132, -15.5564, -0.1512],
            [-64.9132, -15.5564, -1.9820], [-64.1832, -17.4185, -1.9820],
        ]
    )  # fmt: skip
    for a, b, inter, vol_a, vol_b in (
        (box18a, box18b, 17.108501, 18.000067, 23.128527),
        (box19a, box19b, 12.505723, 18.918238, 18.468531),
    ):
        meshlab = inter / (vol_a + vol_b - inter)
        # corners rounded to 0.1 mm: agreement to 1e-4 (pytorch3d itself asserts 1e-2)
        assert iou3d_matrix(a, b)[0, 0] == pytest.approx(meshlab, abs=1e-4)
        assert iou3d_matrix(b, a)[0, 0] == iou3d_matrix(a, b)[0, 0]
    # their tests 16/17: a real box against itself (and a 1e-5 m perturbation) has IoU 1
    assert iou3d_matrix(box18a, box18a)[0, 0] == pytest.approx(1.0, abs=1e-12)


# ---------------------------------------------------------------- shapely on random boxes


def _random_boxes(rng: np.random.Generator, n: int, spread: float) -> F64:
    return np.column_stack(
        [
            rng.uniform(-spread, spread, (n, 2)),
            rng.uniform(-0.5, 0.5, n),
            rng.uniform(0.2, 6.0, n),
            rng.uniform(0.2, 3.0, n),
            rng.uniform(0.3, 3.0, n),
            rng.uniform(-math.pi, math.pi, n),
        ]
    )


def _shapely_ious(a: F64, b: F64) -> tuple[F64, F64]:
    """BEV and 3D IoU of aligned pairs by shapely polygon intersection."""
    pa = shapely.polygons(box_corners_bev(a))
    pb = shapely.polygons(box_corners_bev(b))
    inter = shapely.area(shapely.intersection(pa, pb))
    area_a, area_b = a[:, 3] * a[:, 4], b[:, 3] * b[:, 4]
    bev = inter / (area_a + area_b - inter)
    dz = np.maximum(
        0.0,
        np.minimum(a[:, 2] + a[:, 5] / 2, b[:, 2] + b[:, 5] / 2)
        - np.maximum(a[:, 2] - a[:, 5] / 2, b[:, 2] - b[:, 5] / 2),
    )
    vol = inter * dz
    iou3d = vol / (area_a * a[:, 5] + area_b * b[:, 5] - vol)
    return bev, iou3d


def test_matches_shapely_on_random_rotated_boxes() -> None:
    rng = np.random.default_rng(20240611)
    n = 4000
    a = _random_boxes(rng, n, 2.0)
    b = _random_boxes(rng, n, 2.0)
    want_bev, want_3d = _shapely_ious(a, b)
    assert (want_bev > 0).mean() > 0.5  # most pairs overlap: the clipping is exercised
    np.testing.assert_allclose(bev_iou_pairs(a, b), want_bev, rtol=0, atol=1e-9)
    np.testing.assert_allclose(iou3d_pairs(a, b), want_3d, rtol=0, atol=1e-9)
    # the matrix variants agree with the pairs on their diagonal, both ways round
    m = 300
    np.testing.assert_array_equal(
        np.diag(bev_iou_matrix(a[:m], b[:m])), bev_iou_pairs(a[:m], b[:m])
    )
    np.testing.assert_array_equal(np.diag(iou3d_matrix(b[:m], a[:m])), iou3d_pairs(a[:m], b[:m]))


def test_matches_shapely_far_from_the_origin() -> None:
    """Boxes 20 km out (a map frame): the IoU equals the one computed at the origin."""
    rng = np.random.default_rng(7)
    a = _random_boxes(rng, 500, 2.0)
    b = _random_boxes(rng, 500, 2.0)
    want_bev, want_3d = _shapely_ious(a, b)
    offset = np.array([12_345.678, -20_000.125, 0, 0, 0, 0, 0])
    np.testing.assert_allclose(bev_iou_pairs(a + offset, b + offset), want_bev, rtol=0, atol=1e-9)
    np.testing.assert_allclose(iou3d_pairs(a + offset, b + offset), want_3d, rtol=0, atol=1e-9)


# ---------------------------------------------------------------- symmetry and exact cases


def test_symmetric_to_the_last_bit() -> None:
    rng = np.random.default_rng(3)
    a = _random_boxes(rng, 200, 3.0)
    b = _random_boxes(rng, 150, 3.0)
    np.testing.assert_array_equal(bev_iou_matrix(a, b), bev_iou_matrix(b, a).T)
    np.testing.assert_array_equal(iou3d_matrix(a, b), iou3d_matrix(b, a).T)
    assert np.all((iou3d_matrix(a, b) >= 0) & (iou3d_matrix(a, b) <= 1))


def test_identical_half_turned_contained_and_touching_boxes() -> None:
    box = np.array([[5.0, -2.0, 0.3, 4.0, 1.8, 1.5, 0.3]])
    turned = box + np.array([[0, 0, 0, 0, 0, 0, math.pi]])
    for fn in (bev_iou_matrix, iou3d_matrix):
        assert fn(box, box)[0, 0] == pytest.approx(1.0, abs=1e-14)
        assert fn(box, turned)[0, 0] == pytest.approx(1.0, abs=1e-14)
    # contained: a 2 x 1 x 1 box inside a 4 x 2 x 2 box, both rotated alike
    big = np.array([[1.0, 1.0, 0.0, 4.0, 2.0, 2.0, 0.7]])
    small = np.array([[1.0, 1.0, 0.2, 2.0, 1.0, 1.0, 0.7]])
    assert bev_iou_matrix(big, small)[0, 0] == pytest.approx(2.0 / 8.0, abs=1e-14)
    assert iou3d_matrix(small, big)[0, 0] == pytest.approx(2.0 / 16.0, abs=1e-14)
    # touching along an edge, at a corner, and stacked (sharing a face in z): exactly zero
    a = np.array([[0.0, 0.0, 0.0, 2.0, 2.0, 2.0, 0.0]])
    for other in ([2.0, 0.0, 0.0], [2.0, 2.0, 0.0], [0.0, -2.0, 0.0]):
        b = np.array([[*other, 2.0, 2.0, 2.0, 0.0]])
        assert bev_iou_matrix(a, b)[0, 0] == 0.0
        assert iou3d_matrix(b, a)[0, 0] == 0.0
    stacked = np.array([[0.0, 0.0, 2.0, 2.0, 2.0, 2.0, 0.0]])
    assert bev_iou_matrix(a, stacked)[0, 0] == pytest.approx(1.0)
    assert iou3d_matrix(a, stacked)[0, 0] == 0.0


def test_heading_changes_the_iou() -> None:
    """A yaw-blind implementation would give 1 here: a 4 x 2 box and its quarter turn share a
    2 x 2 square (1/3), its eighth turn shares an irregular polygon (checked against shapely)."""
    box = np.array([[0.0, 0.0, 0.0, 4.0, 2.0, 1.5, 0.0]])
    quarter = box + np.array([[0, 0, 0, 0, 0, 0, math.pi / 2]])
    eighth = box + np.array([[0, 0, 0, 0, 0, 0, math.pi / 4]])
    assert bev_iou_matrix(box, quarter)[0, 0] == pytest.approx(1.0 / 3.0, abs=1e-14)
    assert iou3d_matrix(box, quarter)[0, 0] == pytest.approx(1.0 / 3.0, abs=1e-14)
    want, _ = _shapely_ious(box, eighth)
    got = bev_iou_matrix(box, eighth)[0, 0]
    assert got == pytest.approx(want[0], abs=1e-12)
    assert got < 0.7


def test_degenerate_boxes_score_zero_both_ways() -> None:
    real = np.array([[0.0, 0.0, 0.0, 4.0, 2.0, 1.5, 0.3]])
    degenerate = np.array(
        [
            [0.0, 0.0, 0.0, 0.0, 0.0, 1.5, 0.0],  # zero footprint (was 1.0 / 4.5e15 one way)
            [0.0, 0.0, 0.0, 0.0, 2.0, 1.5, 0.0],  # zero length: a segment
            [0.0, 0.0, 0.0, 4.0, 2.0, 0.0, 0.3],  # zero height
            [0.0, 0.0, 0.0, -4.0, -2.0, 1.5, 0.3],  # negative sizes (same footprint if signed)
            [0.0, 0.0, 0.0, 4.0, 2.0, -1.5, 0.3],
            [0.0, 0.0, 0.0, np.nan, 2.0, 1.5, 0.3],
            [0.0, 0.0, 0.0, 4.0, 2.0, 1.5, np.inf],
            [np.nan, 0.0, 0.0, 4.0, 2.0, 1.5, 0.3],
        ]
    )
    assert not valid_box_mask(degenerate).any()
    assert valid_box_mask(real).all()
    for fn in (bev_iou_matrix, iou3d_matrix):
        np.testing.assert_array_equal(fn(degenerate, real), 0.0)
        np.testing.assert_array_equal(fn(real, degenerate), 0.0)
        np.testing.assert_array_equal(fn(degenerate, degenerate), 0.0)
    for fn in (bev_iou_pairs, iou3d_pairs):
        np.testing.assert_array_equal(fn(degenerate, np.repeat(real, 8, axis=0)), 0.0)


def test_shapes_and_errors() -> None:
    boxes = np.zeros((3, 7))
    assert bev_iou_matrix(boxes, np.zeros((0, 7))).shape == (3, 0)
    assert iou3d_pairs(np.zeros((0, 7)), np.zeros((0, 7))).shape == (0,)
    # extra columns (e.g. velocity) are ignored
    wide = np.array([[0.0, 0.0, 0.0, 2.0, 2.0, 2.0, 0.0, 9.0, 9.0]])
    assert iou3d_matrix(wide, wide[:, :7])[0, 0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="aligned pairs need as many boxes"):
        bev_iou_pairs(np.zeros((2, 7)), np.zeros((3, 7)))
    with pytest.raises(ValueError, match=r"expected boxes of shape \(N, 7\)"):
        iou3d_matrix(np.zeros((2, 6)), boxes)
