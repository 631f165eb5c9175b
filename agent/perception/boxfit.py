"""Box fitting: an oriented box per cluster, yaw from the points (L-shape fitting).

For each cluster the BEV points are projected onto the axes of every candidate heading in
[0, pi/2) (``angle_steps`` of them) and the heading with the best *closeness* criterion wins
(Zhang et al., "Efficient L-Shape Fitting for Vehicle Detection Using Laser Scanners", IV 2017):
it rewards points that lie near two perpendicular edges, which is what a LiDAR sees of a car
(one or two visible sides), where a minimum-area rectangle tilts toward the hidden corner.
The longer side becomes ``l``; yaw is wrapped to (-pi/2, pi/2] since the points do not tell
front from back. The bottom of the box is the ground under its centre (the lowest object points
are often occluded), the top is the highest point.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np
import numpy.typing as npt

from agent.perception.ground import ground_at

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]

#: columns of the per-cluster facts array returned with the boxes
FACT_NAMES = ("num_points", "z_min", "z_max", "ground_z", "extent_x", "extent_y")


@nb.njit(cache=True, nogil=True)
def _best_heading(pts: F32, idx: I64, angle_steps: int, min_dist: float) -> float:
    """Heading in [0, pi/2) with the best closeness score for the points ``pts[idx]``."""
    n = idx.shape[0]
    best_score = -1.0
    best_theta = 0.0
    for a in range(angle_steps):
        theta = a * (0.5 * math.pi) / angle_steps
        c, s = math.cos(theta), math.sin(theta)
        min1, max1, min2, max2 = np.inf, -np.inf, np.inf, -np.inf
        for k in range(n):
            x, y = pts[idx[k], 0], pts[idx[k], 1]
            p1 = c * x + s * y
            p2 = -s * x + c * y
            min1, max1 = min(min1, p1), max(max1, p1)
            min2, max2 = min(min2, p2), max(max2, p2)
        score = 0.0
        for k in range(n):
            x, y = pts[idx[k], 0], pts[idx[k], 1]
            p1 = c * x + s * y
            p2 = -s * x + c * y
            d1 = min(max1 - p1, p1 - min1)
            d2 = min(max2 - p2, p2 - min2)
            score += 1.0 / max(min(d1, d2), min_dist)
        if score > best_score:
            best_score = score
            best_theta = theta
    return best_theta


@nb.njit(cache=True, nogil=True)
def _extents(pts: F32, idx: I64, theta: float) -> tuple[float, float, float, float]:
    """Centre (cx, cy) and extents along ``theta`` and its normal of the points ``pts[idx]``."""
    c, s = math.cos(theta), math.sin(theta)
    min1, max1, min2, max2 = np.inf, -np.inf, np.inf, -np.inf
    for k in range(idx.shape[0]):
        x, y = pts[idx[k], 0], pts[idx[k], 1]
        p1 = c * x + s * y
        p2 = -s * x + c * y
        min1, max1 = min(min1, p1), max(max1, p1)
        min2, max2 = min(min2, p2), max(max2, p2)
    m1, m2 = 0.5 * (min1 + max1), 0.5 * (min2 + max2)
    return c * m1 - s * m2, s * m1 + c * m2, max1 - min1, max2 - min2


@nb.njit(cache=True, nogil=True)
def fit_boxes_kernel(
    points: F32,
    order: I64,
    offsets: I64,
    heights: F32,
    range_m: float,
    ground_cell: float,
    angle_steps: int,
    fit_max_points: int,
    min_size: float,
    boxes: F32,
    facts: F32,
) -> None:
    """Fit one box per cluster into ``boxes`` (C, 7) and the cluster facts into ``facts`` (C, 6).

    Cluster ``i`` is ``points[order[offsets[i]:offsets[i + 1]]]``. Sizes are at least
    ``min_size`` metres so that single-line clusters still have an area. The heading search runs
    on an even stride of at most ``fit_max_points`` points (it is O(angles x points)); the
    extents then use every point.
    """
    for i in range(offsets.shape[0] - 1):
        idx = order[offsets[i] : offsets[i + 1]]
        stride = (idx.shape[0] + fit_max_points - 1) // fit_max_points
        theta = _best_heading(points, idx[::stride], angle_steps, 0.01)
        cx, cy, ea, eb = _extents(points, idx, theta)
        if ea >= eb:
            length, width, yaw = ea, eb, theta
        else:
            length, width, yaw = eb, ea, theta + 0.5 * math.pi
        if yaw > 0.5 * math.pi:
            yaw -= math.pi
        z_min, z_max = np.inf, -np.inf
        x_min, x_max, y_min, y_max = np.inf, -np.inf, np.inf, -np.inf
        for k in range(idx.shape[0]):
            p = idx[k]
            z_min, z_max = min(z_min, points[p, 2]), max(z_max, points[p, 2])
            x_min, x_max = min(x_min, points[p, 0]), max(x_max, points[p, 0])
            y_min, y_max = min(y_min, points[p, 1]), max(y_max, points[p, 1])
        ground = ground_at(heights, cx, cy, range_m, ground_cell)
        bottom = z_min if math.isnan(ground) else min(ground, z_min)
        height = max(z_max - bottom, min_size)
        boxes[i, 0] = cx
        boxes[i, 1] = cy
        boxes[i, 2] = bottom + 0.5 * height
        boxes[i, 3] = max(length, min_size)
        boxes[i, 4] = max(width, min_size)
        boxes[i, 5] = height
        boxes[i, 6] = yaw
        facts[i, 0] = idx.shape[0]
        facts[i, 1] = z_min
        facts[i, 2] = z_max
        facts[i, 3] = bottom
        facts[i, 4] = x_max - x_min
        facts[i, 5] = y_max - y_min
