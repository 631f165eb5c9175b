"""The pre-processing stages on synthetic frames with known answers."""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import pytest

from agent.errors import ModelPackageError
from agent.perception.cluster import cluster_kernel, group_by_label
from agent.perception.decode import decode_boxes, encode_boxes, nms_bev, wrap_angle
from agent.perception.preprocess import PipelineParams, Preprocessor
from agent.perception.sampling import FEATURE_NAMES
from core.geometry import bev_iou_matrix, points_in_boxes
from tests.agent.perception.synthetic import box_surface_points, make_frame


@pytest.mark.parametrize("slope", [0.0, 0.04])
def test_ground_removal_keeps_objects_and_drops_ground(slope: float) -> None:
    rng = np.random.default_rng(1)
    points, labels = make_frame(rng, 0, slope=slope)
    pre = Preprocessor(PipelineParams())
    cand = pre(points)
    kept = np.zeros(points.shape[0], dtype=bool)
    kept[cand.point_index] = True
    on_object = points_in_boxes(points, labels.boxes(), margin=0.02) >= 0
    # ground points must go (no candidate made of road); object points above the threshold stay
    assert kept[~on_object].mean() < 0.002
    high = on_object & (points[:, 2] > (slope * points[:, 0] - 1.73 + 0.35))
    assert kept[high].mean() > 0.97


def _naive_components(xy: np.ndarray, cell: float, reach: int) -> int:
    cells = {(math.floor(x / cell), math.floor(y / cell)) for x, y in xy}
    seen: set[tuple[int, int]] = set()
    count = 0
    for start in cells:
        if start in seen:
            continue
        count += 1
        queue = deque([start])
        seen.add(start)
        while queue:
            cx, cy = queue.popleft()
            for dx in range(-reach, reach + 1):
                for dy in range(-reach, reach + 1):
                    nb = (cx + dx, cy + dy)
                    if nb in cells and nb not in seen:
                        seen.add(nb)
                        queue.append(nb)
    return count


def test_clustering_matches_naive_flood_fill_and_resets_grid() -> None:
    rng = np.random.default_rng(2)
    xy = np.concatenate([rng.normal(c, 0.4, (200, 2)) for c in rng.uniform(-20, 20, (12, 2))])
    pts = np.c_[xy, np.zeros((xy.shape[0], 2))].astype(np.float32)
    grid = np.full((320, 320), -1, dtype=np.int32)
    labels = np.empty(pts.shape[0], dtype=np.int32)
    # range 40 with cell 0.25 puts cell boundaries at multiples of 0.25 from -40: same as naive
    tall = np.ones(pts.shape[0], dtype=np.float32)  # every cell tall: plain components
    n = cluster_kernel(pts, tall, grid, 40.0, 0.25, 2, 0.4, 1, labels)
    assert n == _naive_components(xy.astype(np.float32), 0.25, 2)
    assert (grid == -1).all()
    order, offsets = group_by_label(labels, n)
    assert offsets[-1] == pts.shape[0]
    assert (np.diff(labels[order]) >= 0).all()


def test_min_points_drops_small_clusters() -> None:
    pts = np.array([[0, 0, 0, 0], [0.1, 0, 0, 0], [10, 10, 0, 0]], dtype=np.float32)
    labels = np.empty(3, dtype=np.int32)
    grid = np.full((80, 80), -1, dtype=np.int32)
    tall = np.ones(3, dtype=np.float32)
    assert cluster_kernel(pts, tall, grid, 10.0, 0.25, 1, 0.4, 2, labels) == 1
    assert labels.tolist() == [0, 0, -1]


@pytest.mark.parametrize("yaw", [0.0, 0.4, -1.2, 2.9])
def test_box_fit_recovers_an_l_shaped_car(yaw: float) -> None:
    rng = np.random.default_rng(3)
    box = (12.0, 5.0, -0.93, 4.4, 1.9, 1.6, yaw)
    pts = box_surface_points(rng, box, 800)
    # keep the two faces that look at the sensor (an L seen from the origin)
    c, s = math.cos(yaw), math.sin(yaw)
    u = c * (pts[:, 0] - box[0]) + s * (pts[:, 1] - box[1])
    v = -s * (pts[:, 0] - box[0]) + c * (pts[:, 1] - box[1])
    su = np.sign(c * -box[0] + s * -box[1])
    sv = np.sign(-s * -box[0] + c * -box[1])
    visible = (np.isclose(u, su * 2.2, atol=1e-3)) | (np.isclose(v, sv * 0.95, atol=1e-3))
    ground = np.c_[rng.uniform(0, 25, (4000, 2)), np.full(4000, -1.73), np.zeros(4000)]
    frame = np.concatenate([pts[visible], ground]).astype(np.float32)
    cand = Preprocessor(PipelineParams())(frame)
    assert len(cand) == 1
    fitted = cand.boxes[0]
    assert abs(wrap_angle(np.array([fitted[6] - yaw]), math.pi)[0]) < math.radians(3)
    assert fitted[3] == pytest.approx(4.4, abs=0.1) and fitted[4] == pytest.approx(1.9, abs=0.1)
    assert bev_iou_matrix(cand.boxes, np.array([box]))[0, 0] > 0.9
    # bottom from the ground grid, top from the highest point
    assert fitted[2] - fitted[5] / 2 == pytest.approx(-1.73, abs=0.05)


def test_sampling_gives_p_points_in_the_box_frame() -> None:
    rng = np.random.default_rng(4)
    points, _labels = make_frame(rng, 0)
    params = PipelineParams(points_per_candidate=32)
    cand = Preprocessor(params)(points)
    assert cand.points.shape == (len(cand), 32, 4)
    assert cand.features.shape == (len(cand), len(FEATURE_NAMES))
    # in the box frame every point lies within the fitted box (plus float slack)
    half = cand.boxes[:, None, 3:6] / 2 + 1e-3
    assert (np.abs(cand.points[:, :, :3]) <= half).all()
    direction = cand.features[:, 5:7]
    assert np.linalg.norm(direction, axis=1) == pytest.approx(np.ones(len(cand)), abs=1e-5)


def test_encode_decode_round_trip() -> None:
    rng = np.random.default_rng(5)
    fitted = np.c_[
        rng.uniform(-30, 30, (50, 3)), rng.uniform(0.5, 5, (50, 3)), rng.uniform(-3, 3, 50)
    ]
    target = fitted + np.c_[rng.normal(0, 0.5, (50, 3)), np.zeros((50, 3)), rng.normal(0, 0.3, 50)]
    target[:, 3:6] = fitted[:, 3:6] * rng.uniform(0.5, 2, (50, 3))
    delta = encode_boxes(fitted, target)
    assert (np.abs(delta[:, 6]) <= math.pi / 2 + 1e-6).all()
    back = decode_boxes(fitted, delta)
    assert np.allclose(back[:, :6], target[:, :6], atol=1e-4)
    assert np.allclose(np.diag(bev_iou_matrix(back, target)), 1.0, atol=1e-4)


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 0, 4, 2, 1.5, 0], [0.3, 0, 0, 4, 2, 1.5, 0], [10, 0, 0, 4, 2, 1.5, 0]])
    assert sorted(nms_bev(boxes, np.array([0.5, 0.9, 0.4]), 0.1).tolist()) == [1, 2]


@pytest.mark.parametrize("yaw", [0.5, math.pi / 4, -2.2])
def test_nms_of_rotated_boxes_uses_their_heading(yaw: float) -> None:
    # 4 x 2 m boxes: ``crossed`` shares the centre turned 90 degrees (IoU 1/3: both kept at 0.5);
    # ``moved`` sits 1 m along the heading (IoU 0.6: suppressed). A heading-blind IoU would keep
    # ``moved`` (IoU 0.36 at 45 degrees) and suppress ``crossed`` (IoU 1).
    best = np.array([8.0, 3.0, -1.0, 4.0, 2.0, 1.5, yaw])
    crossed = best.copy()
    crossed[6] += math.pi / 2
    moved = best.copy()
    moved[:2] += (math.cos(yaw), math.sin(yaw))
    boxes = np.stack([moved, best, crossed])
    assert sorted(nms_bev(boxes, np.array([0.8, 0.9, 0.7]), 0.5).tolist()) == [1, 2]


def test_pipeline_params_reject_bad_values() -> None:
    assert PipelineParams.from_json(PipelineParams().to_json(), "x") == PipelineParams()
    with pytest.raises(ModelPackageError, match="unknown pipeline settings"):
        PipelineParams.from_json({"bogus": 1}, "meta.json")
    with pytest.raises(ModelPackageError, match="must be a number"):
        PipelineParams.from_json({"range_m": "far"}, "meta.json")
