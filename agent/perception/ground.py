"""Ground removal: per-cell lowest z on a BEV grid, capped by a slope limit from the neighbours.

Each square cell (``cell`` metres) takes the lowest z of its points as a ground estimate; a cell
whose lowest point is on an object (no ground visible in it) is pulled down to its neighbours'
ground plus the rise a road of slope ``max_slope`` can make over the distance between the cells.
Empty cells take part in that relaxation, so the estimate also crosses the wide gaps between
ground rings far from the sensor (at 50 m a 64-beam sensor's rings are metres apart), and all
the cells under a distant car get one consistent ground instead of each its own lowest point.
That follows sloped roads (no single plane, no assumed height 0: the estimate comes from the
points, so a KITTI sensor at 1.73 m works unchanged) and rejects object-only cells.
A point is ground when it is less than ``threshold`` metres above its cell's estimate.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]


@nb.njit(cache=True, nogil=True)
def ground_kernel(
    points: F32,
    heights: F32,
    range_m: float,
    cell: float,
    max_slope: float,
    iterations: int,
    threshold: float,
    height_above: F32,
) -> None:
    """Fill ``heights`` (G, G) with ground z per cell (inf: nothing within reach of the
    relaxation) and ``height_above`` (N,)
    with each point's height above its cell's ground (nan: outside the grid)."""
    g = heights.shape[0]
    heights[:, :] = np.inf
    n = points.shape[0]
    inv = 1.0 / cell
    for p in range(n):
        ix = math.floor((points[p, 0] + range_m) * inv)
        iy = math.floor((points[p, 1] + range_m) * inv)
        if ix < 0 or iy < 0 or ix >= g or iy >= g:
            continue
        z = points[p, 2]
        if z < heights[ix, iy]:
            heights[ix, iy] = z
    rise = max_slope * cell
    diag = rise * math.sqrt(2.0)
    for _ in range(iterations):
        changed = False
        for ix in range(g):
            for iy in range(g):
                h = heights[ix, iy]
                for dx in range(-1, 2):
                    for dy in range(-1, 2):
                        jx, jy = ix + dx, iy + dy
                        if (dx == 0 and dy == 0) or jx < 0 or jy < 0 or jx >= g or jy >= g:
                            continue
                        cap = heights[jx, jy] + (diag if dx != 0 and dy != 0 else rise)
                        if cap < h:
                            h = cap
                if h < heights[ix, iy]:
                    heights[ix, iy] = h
                    changed = True
        if not changed:
            break
    for p in range(n):
        ix = math.floor((points[p, 0] + range_m) * inv)
        iy = math.floor((points[p, 1] + range_m) * inv)
        if ix < 0 or iy < 0 or ix >= g or iy >= g:
            height_above[p] = np.nan
        else:
            height_above[p] = points[p, 2] - heights[ix, iy]


@nb.njit(cache=True, nogil=True)
def ground_at(heights: F32, x: float, y: float, range_m: float, cell: float) -> float:
    """Ground z (metres) of the cell holding ``(x, y)``; nan outside the grid or in empty cells."""
    g = heights.shape[0]
    ix = math.floor((x + range_m) / cell)
    iy = math.floor((y + range_m) / cell)
    if ix < 0 or iy < 0 or ix >= g or iy >= g:
        return np.nan
    h = heights[ix, iy]
    return np.nan if h == np.inf else float(h)


def grid_size(range_m: float, cell: float) -> int:
    """Number of cells per side of a square grid covering ``[-range_m, range_m)`` metres."""
    return math.ceil(2.0 * range_m / cell)
