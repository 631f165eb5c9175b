"""Ground estimation and clustering on clouds with real-sensor outliers (issue 12).

The frame the issue measured on a real KITTI sweep: a road 1.73 m below the sensor, about 150
multipath returns 0.3-3 m below the road in the 5-15 m ring, a pedestrian 8.7 m ahead with 377
points and a car. The former estimator (lowest point per cell + slope relaxation) put the ground
within 20 m metres too low there and lost both objects inside one road-sized cluster.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from agent.perception.cluster import cluster_kernel
from agent.perception.preprocess import PipelineParams, Preprocessor
from core.geometry import bev_iou_matrix
from tests.agent.perception.synthetic import (
    SENSOR_HEIGHT,
    box_surface_points,
    multipath_points,
    ring_ground,
)

PEDESTRIAN = (8.7, 0.0, -SENSOR_HEIGHT + 0.875, 0.6, 0.6, 1.75, 0.0)
CAR = (14.0, -5.0, -SENSOR_HEIGHT + 0.8, 4.4, 1.9, 1.6, 0.3)


def _objects(rng: np.random.Generator) -> np.ndarray:
    return np.concatenate(
        [box_surface_points(rng, PEDESTRIAN, 377), box_surface_points(rng, CAR, 900)]
    )


def _ground_error_within(pre: Preprocessor, radius: float) -> float:
    """Largest |estimate - road| over the ground cells whose centre is within ``radius``
    metres of the sensor, outside its blind circle (the lowest beam meets the road at 3.9 m)."""
    p = pre.params
    g = pre.ground_heights.shape[0]
    centre = (np.arange(g) + 0.5) * p.ground_cell - p.range_m
    cx, cy = np.meshgrid(centre, centre, indexing="ij")
    dist = np.hypot(cx, cy)
    near = (dist < radius) & (dist > 4.0) & np.isfinite(pre.ground_heights)
    return float(np.abs(pre.ground_heights[near] + SENSOR_HEIGHT).max())


def _found(boxes: np.ndarray, box: tuple[float, ...]) -> bool:
    return bool((bev_iou_matrix(boxes, np.array([box])) > 0.3).any()) if len(boxes) else False


@pytest.mark.parametrize(("seed", "ghosts"), [(0, 150), (1, 150), (2, 150), (3, 800)])
def test_multipath_below_the_road_leaves_ground_and_objects_intact(seed: int, ghosts: int) -> None:
    # 150 as measured; 800 (about five per 2 m cell of the ring) as a much wetter road
    rng = np.random.default_rng(seed)
    below = multipath_points(rng, ghosts, 5.0, 15.0, (0.3, 3.0))
    frame = np.concatenate([ring_ground(rng), _objects(rng), below]).astype(np.float32)
    pre = Preprocessor(PipelineParams())
    cand = pre(frame)
    assert _ground_error_within(pre, 20.0) < 0.05
    assert _found(cand.boxes, PEDESTRIAN) and _found(cand.boxes, CAR)
    # no road-sized candidate, and no candidate made of the multipath returns
    assert (cand.boxes[:, 3] < 6.0).all()
    assert not np.isin(cand.point_index, np.arange(frame.shape[0] - ghosts, frame.shape[0])).any()
    # the former estimator (lowest point per cell, no neighbour check) sinks metres and loses both
    former = Preprocessor(PipelineParams(ground_support=1, ground_max_drop=1e3))
    cand = former(frame)
    assert _ground_error_within(former, 20.0) > 1.0
    assert not (_found(cand.boxes, PEDESTRIAN) and _found(cand.boxes, CAR))


def test_a_dense_mirror_patch_below_the_road_is_rejected_by_its_neighbours() -> None:
    # 60 returns packed into 1 m^2 at 0.8 m below the road (a mirror image off a puddle): dense
    # enough to form a layer, so only the neighbour check can reject it
    rng = np.random.default_rng(5)
    patch = np.c_[
        rng.uniform(10.2, 11.2, 60),
        rng.uniform(3.2, 4.2, 60),
        -SENSOR_HEIGHT - 0.8 + rng.normal(0, 0.02, 60),
        rng.uniform(0, 0.2, 60),
    ]
    frame = np.concatenate([ring_ground(rng), _objects(rng), patch]).astype(np.float32)
    pre = Preprocessor(PipelineParams())
    cand = pre(frame)
    assert _ground_error_within(pre, 20.0) < 0.05
    assert _found(cand.boxes, PEDESTRIAN) and _found(cand.boxes, CAR)


def test_ghosts_where_no_road_is_seen_do_not_sink_the_road_around_them() -> None:
    # behind a building no road is seen; a few multipath returns 2 m below the road land there,
    # two per 2 m cell. Each such cell has only ghost neighbours, so the ghosts are its ground;
    # the slope relaxation must not carry that 2 m drop onto the road and the pedestrian on it
    # (found on simulated hdl64 frames with multipath: 1438 cells sunk, pedestrians lost).
    rng = np.random.default_rng(7)
    road = ring_ground(rng)
    hidden = (road[:, 0] > 2.0) & (road[:, 0] < 12.0) & (road[:, 1] > 8.0) & (road[:, 1] < 18.0)
    cells = np.array([(x, y) for x in (3.0, 5.0, 7.0, 9.0, 11.0) for y in (9.0, 11.0, 13.0)])
    ghosts = np.c_[
        np.repeat(cells, 2, axis=0) + rng.uniform(-0.5, 0.5, (2 * len(cells), 2)),
        -SENSOR_HEIGHT - 2.0 + rng.uniform(-0.3, 0.3, 2 * len(cells)),
        rng.uniform(0.0, 0.2, 2 * len(cells)),
    ]
    frame = np.concatenate([road[~hidden], _objects(rng), ghosts]).astype(np.float32)
    pre = Preprocessor(PipelineParams())
    cand = pre(frame)
    p = pre.params
    centre = (np.arange(pre.ground_heights.shape[0]) + 0.5) * p.ground_cell - p.range_m
    cx, cy = np.meshgrid(centre, centre, indexing="ij")
    seen = np.zeros(pre.ground_heights.shape, dtype=bool)  # cells with road returns in them
    ix = ((road[~hidden, 0] + p.range_m) // p.ground_cell).astype(int)
    iy = ((road[~hidden, 1] + p.range_m) // p.ground_cell).astype(int)
    seen[ix, iy] = True
    near = seen & (np.hypot(cx, cy) < 25.0) & (np.hypot(cx, cy) > 4.0)
    assert np.abs(pre.ground_heights[near] + SENSOR_HEIGHT).max() < 0.25
    assert _found(cand.boxes, PEDESTRIAN) and _found(cand.boxes, CAR)
    assert (cand.boxes[:, 3] < 6.0).all()  # no road-sized candidate


def test_returns_in_the_air_do_not_lift_the_ground() -> None:
    # dust / exhaust: 400 returns 0.1-2 m above the road within 12 m
    rng = np.random.default_rng(6)
    r, az = rng.uniform(3, 12, 400), rng.uniform(-np.pi, np.pi, 400)
    dust = np.c_[
        r * np.cos(az),
        r * np.sin(az),
        -SENSOR_HEIGHT + rng.uniform(0.1, 2.0, 400),
        rng.uniform(0, 0.1, 400),
    ]
    frame = np.concatenate([ring_ground(rng), _objects(rng), dust]).astype(np.float32)
    pre = Preprocessor(PipelineParams())
    cand = pre(frame)
    assert _ground_error_within(pre, 20.0) < 0.05
    assert _found(cand.boxes, PEDESTRIAN) and _found(cand.boxes, CAR)


def test_ground_remnants_do_not_join_two_objects() -> None:
    # a car and a pedestrian 3 m apart, linked by a strip of returns 0.3 m above the road (above
    # the ground threshold, as road noise or a verge leaves them): two candidates, not one
    rng = np.random.default_rng(7)
    car = (10.0, 0.0, -SENSOR_HEIGHT + 0.8, 4.4, 1.9, 1.6, 0.0)
    ped = (10.0, 4.5, -SENSOR_HEIGHT + 0.875, 0.6, 0.6, 1.75, 0.0)
    strip = np.c_[
        rng.uniform(8.0, 12.0, 800),
        rng.uniform(0.8, 4.3, 800),
        -SENSOR_HEIGHT + rng.uniform(0.27, 0.35, 800),
        rng.uniform(0, 0.2, 800),
    ]
    frame = np.concatenate(
        [
            ring_ground(rng),
            box_surface_points(rng, car, 900),
            box_surface_points(rng, ped, 300),
            strip,
        ]
    ).astype(np.float32)
    cand = Preprocessor(PipelineParams())(frame)
    assert _found(cand.boxes, car) and _found(cand.boxes, ped)
    # with every cell a bridge (the former clustering) the strip joins both into one
    merged = Preprocessor(PipelineParams(bridge_height=0.0))(frame)
    assert not _found(merged.boxes, ped)


def test_cluster_kernel_low_cells_do_not_bridge() -> None:
    # tall cell at x=0, low cells at x=0.25..1.0 (a chain), tall cell at x=1.25
    xs = np.array([0.1, 0.35, 0.6, 0.85, 1.1, 1.35], dtype=np.float32)
    pts = np.c_[xs, np.full(6, 0.1), np.zeros(6), np.zeros(6)].astype(np.float32)
    above = np.array([1.0, 0.3, 0.3, 0.3, 0.3, 1.0], dtype=np.float32)
    grid = np.full((80, 80), -1, dtype=np.int32)
    labels = np.empty(6, dtype=np.int32)
    n = cluster_kernel(pts, above, grid, 10.0, 0.25, 1, 0.4, 1, labels)
    assert (grid == -1).all()
    # each tall cell alone, the low chain its own cluster
    assert n == 3
    assert labels[1] == labels[2] == labels[3] == labels[4]
    assert len({labels[0], labels[1], labels[5]}) == 3
    # bridge_height 0: one chain
    assert cluster_kernel(pts, above, grid, 10.0, 0.25, 1, 0.0, 1, labels) == 1


def test_size_limits_report_their_reason() -> None:
    rng = np.random.default_rng(8)
    wall = box_surface_points(rng, (20.0, 8.0, -SENSOR_HEIGHT + 1.0, 22.0, 0.3, 2.0, 0.0), 4000)
    frame = np.concatenate([ring_ground(rng), wall, _objects(rng)]).astype(np.float32)
    pre = Preprocessor(PipelineParams())
    cand = pre(frame)
    assert _found(cand.boxes, PEDESTRIAN)
    assert len(pre.rejected) == 1
    assert pre.rejected.reasons[0].startswith("length 22.")
    assert "max_length 15.0 m" in pre.rejected.reasons[0]
    assert math.isclose(float(pre.rejected.boxes[0, 3]), 22.0, abs_tol=0.3)
