"""Per-candidate point sampling to a fixed count, in the candidate's own frame.

Each candidate gives exactly ``P`` points: an even stride through its points (repeating points
when it has fewer than ``P``), so the result is deterministic and covers the whole scan-ordered
cluster without a random generator. Coordinates are moved into the fitted box frame (origin at
the box centre, x along ``l``, z up) and stay in metres: absolute size is what tells a bus
from a car. The fourth channel is the intensity (0..1).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]

#: per-candidate features fed to the network next to the points, in this order
FEATURE_NAMES = ("length", "width", "height", "log_points", "range", "sensor_x", "sensor_y")
#: scale of each feature (length/width in 5 m, height in 3 m, ln(1 + n) in 5, range in 50 m,
#: the unit direction from the box centre to the sensor in the box frame as is). The direction
#: tells the network which sides of the object it can see, hence where the hidden part lies.
FEATURE_SCALE = np.array([5.0, 5.0, 3.0, 5.0, 50.0, 1.0, 1.0], dtype=np.float32)


@nb.njit(cache=True, nogil=True)
def sample_kernel(
    points: F32,
    order: I64,
    offsets: I64,
    boxes: F32,
    scale: F32,
    out_points: F32,
    out_features: F32,
) -> None:
    """Fill ``out_points`` (C, P, 4) and ``out_features`` (C, 7) for each cluster/box pair;
    features are divided by ``scale`` (7,)."""
    n_sample = out_points.shape[1]
    for i in range(offsets.shape[0] - 1):
        start, n = offsets[i], offsets[i + 1] - offsets[i]
        cx, cy, cz, yaw = boxes[i, 0], boxes[i, 1], boxes[i, 2], boxes[i, 6]
        c, s = math.cos(yaw), math.sin(yaw)
        for j in range(n_sample):
            p = order[start + (j * n) // n_sample]
            dx, dy = points[p, 0] - cx, points[p, 1] - cy
            out_points[i, j, 0] = c * dx + s * dy
            out_points[i, j, 1] = -s * dx + c * dy
            out_points[i, j, 2] = points[p, 2] - cz
            out_points[i, j, 3] = points[p, 3]
        out_features[i, 0] = boxes[i, 3] / scale[0]
        out_features[i, 1] = boxes[i, 4] / scale[1]
        out_features[i, 2] = boxes[i, 5] / scale[2]
        out_features[i, 3] = math.log1p(n) / scale[3]
        rng = max(math.hypot(cx, cy), 1e-6)
        out_features[i, 4] = rng / scale[4]
        # direction to the sensor (origin) from the centre, rotated into the box frame
        out_features[i, 5] = (c * -cx + s * -cy) / rng / scale[5]
        out_features[i, 6] = (-s * -cx + c * -cy) / rng / scale[6]
