"""What the labelling tool's point-segmentation tools select by, computed with the project's one
implementation of each: every point's height above the ground and its cluster (the vehicle's
ground estimate and BEV clustering, ``agent.perception``), and the points inside a box
(``core.geometry.points_in_boxes``, the same test the dataset exports use to give points their
box's instance). The browser receives these as typed arrays and never carries a second copy of
the geometry: it compares heights with a threshold and cluster ids with one another.

Pure: numpy in, numpy out; no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Final

import numpy as np
import numpy.typing as npt

from agent.perception.cluster import cluster_kernel
from agent.perception.ground import grid_size
from agent.perception.preprocess import PipelineParams, height_above_ground
from backend.errors import InvalidInputError
from core.geometry import points_in_boxes

F32 = npt.NDArray[np.float32]
I32 = npt.NDArray[np.int32]

#: the vehicle's pipeline settings for a whole frame; the grid covers the frame's points out
#: to the farthest (``range_m`` set per frame, at most :data:`MAX_RANGE_M`)
STRUCTURE_PIPELINE: Final = PipelineParams()
#: the grids stop here (m): a (2 * 200 m / 0.25 m)^2 cluster grid is 2.6 M cells (10 MB)
MAX_RANGE_M: Final = 200.0


@dataclass(frozen=True)
class PointStructure:
    """Per point of a frame: ``height_above`` float32 (N,) metres above the estimated ground
    (NaN outside the grid), ``cluster`` int32 (N,) the object cluster id (-1: ground, too high,
    outside the grid or in a cluster of fewer than ``min_points`` points)."""

    height_above: F32
    cluster: I32

    def to_bytes(self) -> bytes:
        """Little-endian float32 heights then int32 cluster ids (8 N bytes)."""
        return (
            np.ascontiguousarray(self.height_above, dtype="<f4").tobytes()
            + np.ascontiguousarray(self.cluster, dtype="<i4").tobytes()
        )


def point_structure(points: F32, params: PipelineParams = STRUCTURE_PIPELINE) -> PointStructure:
    """Height above ground and cluster of every point of ``points`` float32 (N, >=3) in the
    sensor frame, with the vehicle's ground estimate and clustering (``params``)."""
    pts = np.ascontiguousarray(points[:, :3], dtype=np.float32)
    n = pts.shape[0]
    if n == 0:
        return PointStructure(np.zeros(0, np.float32), np.zeros(0, np.int32))
    finite = np.isfinite(pts).all(axis=1)
    reach = float(np.abs(pts[finite, :2]).max(initial=1.0)) + params.ground_cell
    range_m = min(MAX_RANGE_M, math.ceil(reach))
    p = replace(params, range_m=range_m)
    heights = np.empty((grid_size(range_m, p.ground_cell),) * 2, dtype=np.float32)
    above = height_above_ground(pts, heights, p)
    with np.errstate(invalid="ignore"):  # nan: outside the grid
        lifted = np.flatnonzero((above > p.ground_threshold) & (above < p.max_height))
    grid = np.full((grid_size(range_m, p.cluster_cell),) * 2, -1, dtype=np.int32)
    labels = np.empty(lifted.shape[0], dtype=np.int32)
    cluster_kernel(
        pts[lifted],
        above[lifted],
        grid,
        float(range_m),
        p.cluster_cell,
        p.cluster_reach,
        p.bridge_height,
        p.min_points,
        labels,
    )
    cluster = np.full(n, -1, dtype=np.int32)
    cluster[lifted] = labels
    return PointStructure(above, cluster)


def points_inside(points: F32, box: npt.ArrayLike, margin_m: float = 0.0) -> npt.NDArray[np.uint32]:
    """Indices (ascending) of the points of ``points`` (N, >=3) inside ``box`` ``(x, y, z, l, w,
    h, yaw)`` grown by ``margin_m`` metres on each side; both in the frame's sensor frame."""
    b = np.asarray(box, dtype=np.float64).reshape(-1)
    if b.shape != (7,) or not np.all(np.isfinite(b)) or np.any(b[3:6] <= 0):
        raise InvalidInputError(f"box must be 7 finite values with l, w, h > 0, got {b.tolist()}")
    if not (math.isfinite(margin_m) and 0.0 <= margin_m <= 5.0):
        raise InvalidInputError(f"margin must be in [0, 5] m, got {margin_m!r}")
    owner = points_in_boxes(points, b[None, :], margin_m)
    return np.flatnonzero(owner == 0).astype(np.uint32)
