"""Coarse-first points for the labelling tool: the ``lod`` encoding of a frame's points.

The page draws a coarse cloud as soon as its first bytes arrive and the full cloud when the
rest has come. The coarse level is spatially even: one point per occupied voxel (the point
that comes first in the frame's own order), so a dense road near the sensor is thinned hard
and a sparse object far away keeps its points. The voxel starts at :data:`VOXEL_M` and doubles
until the level holds at most :data:`MAX_COARSE_SHARE` of the points, so the first render
needs a small, bounded part of the transfer whatever the sensor.

Every per-point array of the API (label words, heights, clusters, points-in-box indices) is in
the frame's own order, so the page must put the points back in it exactly: the payload carries
the coarse level's original indices, and the rest comes in the frame's order with the coarse
points left out, so no full permutation travels. Layout (little-endian)::

    uint32 N                     points in the frame
    uint32 K                     points in the coarse level
    uint32 index[K]              their indices in the frame, ascending
    float32 coarse[K][4]         their x, y, z, intensity (sensor frame, metres; 0..1)
    float32 rest[N - K][4]       every other point, in the frame's order

``8 + 4 K + 16 N`` bytes: the indices add ``4 K`` (at most 1/32 more than raw float32).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from backend.errors import InvalidInputError

#: edge of the coarse level's first voxel grid, metres
VOXEL_M = 0.5
#: the coarse level holds at most this share of a frame's points
MAX_COARSE_SHARE = 1 / 8
#: coordinates are clipped to this (metres) for the voxel keys only; points travel unchanged
COORD_LIMIT_M = 1e4


def coarse_indices(
    points: npt.NDArray[np.float32], voxel_m: float = VOXEL_M, max_share: float = MAX_COARSE_SHARE
) -> npt.NDArray[np.uint32]:
    """Ascending indices of one point per occupied voxel of ``points`` ``(N, >=3)`` (sensor
    frame, metres): the first point of each voxel in the frame's order, with the voxel edge
    doubled from ``voxel_m`` until at most ``max(1, max_share * N)`` points remain."""
    if points.ndim != 2 or points.shape[1] < 3:
        raise InvalidInputError(f"points must be (N, >=3), got shape {points.shape}")
    n = points.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.uint32)
    budget = max(1, int(max_share * n))
    # a stray non-finite or absurd coordinate must not overflow the voxel keys
    xyz = np.clip(np.nan_to_num(points[:, :3].astype(np.float64)), -COORD_LIMIT_M, COORD_LIMIT_M)
    low = xyz.min(axis=0)
    edge = voxel_m
    while True:
        cells = np.floor((xyz - low) / edge).astype(np.int64)
        # one integer per voxel (row-major over the grid's extent): a 1-D unique is far
        # faster than a unique over rows
        extent = cells.max(axis=0) + 1
        keys = (cells[:, 0] * extent[1] + cells[:, 1]) * extent[2] + cells[:, 2]
        _, first = np.unique(keys, return_index=True)
        if first.shape[0] <= budget:
            return np.sort(first).astype(np.uint32)
        edge *= 2.0


def encode_lod(points: npt.NDArray[np.float32]) -> bytes:
    """The ``lod`` payload (module docstring) of float32 ``(N, 4)`` points."""
    cloud = np.ascontiguousarray(points, dtype="<f4")
    if cloud.ndim != 2 or cloud.shape[1] != 4:
        raise InvalidInputError(f"points must be (N, 4) x, y, z, intensity, got {cloud.shape}")
    coarse = coarse_indices(cloud)
    rest = np.ones(cloud.shape[0], dtype=bool)
    rest[coarse] = False
    header = np.array([cloud.shape[0], coarse.shape[0]], dtype="<u4")
    return b"".join(
        (
            header.tobytes(),
            coarse.astype("<u4").tobytes(),
            cloud[coarse].tobytes(),
            cloud[rest].tobytes(),
        )
    )
