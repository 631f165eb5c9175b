"""Ground estimation on a BEV grid, robust to returns below and above the road (numba).

Real sensors return points that are not on any surface: multipath and mirror images off wet or
shiny roads put points 0.3-3 m *below* the road, dust, rain and exhaust put points in the air.
A per-cell lowest point followed by a slope relaxation (the earlier estimator) lets one such
point below the road drag the ground of its cell, and through the relaxation of the cells
around it, metres down; the road then sits above the "ground" and becomes one huge object.
The estimate here is built in three steps, each in one pass over points or cells:

1. **Lowest dense layer per cell.** The cell's dense layer is the lowest z of ``support``
   points (or a tenth of the cell's points, if more) within ``band`` metres of each other
   (two adjacent half-band bins counted from the cell's lowest point; inf when there is none). Road returns are dense
   in z (a few cm of range noise); multipath returns are scattered over metres, so a handful
   of them never forms a layer.
2. **Lowest point above the neighbours' floor.** The reference of a cell is the lower quartile
   of the dense layers of the cells around it (5 x 5 window, at least 3 with a layer; objects
   put layers above the road, so not the median); the cell's estimate
   is its lowest point at most ``max_drop`` metres below that reference (inf when it has
   none). Where the reference exists this is the lowest point, as a clean road needs (sparse
   far rings, a pedestrian's feet), except that returns far below what the neighbours see
   (multipath, mirror images off puddles, even a dense patch of them) are passed over.
   Where fewer than 3 neighbours have a dense layer (sparse far rings) the lower quartile of the
   neighbours' lowest points is the reference; with fewer than 3 non-empty neighbours the
   cell's own dense layer is used: a lone ghost far from everything gives no estimate.
3. **Slope relaxation.** A cell whose estimate is on an object (no ground visible in it) is
   pulled down to its neighbours' ground plus the rise a road of slope ``max_slope`` can make
   over the distance between the cells. Empty cells take part, so the estimate also crosses
   the gaps between far ground rings and the cells under a distant car share one ground.
   A cell with points is never pulled below the floor its own neighbours set in step 2:
   otherwise one cell of ghosts alone (behind a wall, where no road is seen, two multipath
   returns 2 m below the road) sank every cell within eight cells of it by up to 2 m, the
   road rose above the "ground" and swallowed the pedestrians on it (hdl64 with multipath:
   4 of 48 pedestrians within 20 m missed; 1438 cells sunk by more than 0.3 m in one frame).

No plane and no sensor height are assumed: a sloped road and a sensor mounted at any height
work unchanged. A point is ground when it is less than ``threshold`` metres above its cell's
estimate; points below the estimate (multipath) have a negative height and are never objects.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]

#: half width (cells) of the window around a cell that sets its reference in step 2
NEIGHBOUR_REACH = 2
#: fewest non-empty neighbours for the check of step 2 to apply
NEIGHBOUR_MIN = 3
#: quantile of the neighbours' layers that is the reference of step 2: low, since cars,
#: walls and hedges put layers above the road, and multipath seldom makes a dense layer
REFERENCE_QUANTILE = 0.25
#: a dense layer holds at least this share of its cell's points: near the sensor a road cell
#: holds hundreds of returns, so even a dozen ghosts in it cannot make a layer
SUPPORT_SHARE = 0.1
#: bins of half the band above a cell's lowest point searched for its dense layer (the layer
#: lies within this many half-bands, 6.4 m at the default band, of the lowest point)
LAYER_BINS = 64


@nb.njit(cache=True, nogil=True)
def _sort_small(values: F32, k: int) -> None:
    """Sort ``values[:k]`` in place (k <= 24 neighbours: insertion sort, no allocation)."""
    for i in range(1, k):
        v = values[i]
        j = i - 1
        while j >= 0 and values[j] > v:
            values[j + 1] = values[j]
            j -= 1
        values[j + 1] = v


@nb.njit(cache=True, nogil=True)
def _dense_layer(
    zs: F32, start: int, end: int, support: int, band: float, counts: I64, mins: F32
) -> tuple[float, float]:
    """(lowest z, dense layer) of the cell points ``zs[start:end]`` (any order).

    The dense layer is the lowest z of ``support`` points, or ``SUPPORT_SHARE`` of the points
    if more, that fall in two adjacent bins of ``band / 2`` metres counted up from the lowest
    point (so they span at most ``band``); inf when no pair of bins holds that many. One pass
    over the points, no sort: ``counts`` and ``mins`` (``LAYER_BINS``,) are scratch.
    """
    lo = np.inf
    for i in range(start, end):
        lo = min(lo, zs[i])
    counts[:] = 0
    mins[:] = np.inf
    inv = 2.0 / band
    for i in range(start, end):
        k = int((zs[i] - lo) * inv)
        if k < LAYER_BINS:
            counts[k] += 1
            mins[k] = min(mins[k], zs[i])
    need = max(support, int(SUPPORT_SHARE * (end - start)))
    for k in range(LAYER_BINS):
        pair = counts[k] + (counts[k + 1] if k + 1 < LAYER_BINS else 0)
        if pair >= need:
            return lo, float(mins[k] if counts[k] > 0 else mins[k + 1])
    return lo, np.inf


@nb.njit(cache=True, nogil=True)
def ground_kernel(
    points: F32,
    heights: F32,
    range_m: float,
    cell: float,
    max_slope: float,
    iterations: int,
    support: int,
    band: float,
    max_drop: float,
    height_above: F32,
) -> None:
    """Fill ``heights`` (G, G) with ground z per cell (inf: nothing within reach of the
    relaxation) and ``height_above`` (N,) with each point's height above its cell's ground
    (nan: outside the grid). ``points`` float32 (N, >=3) in the sensor frame, metres."""
    g = heights.shape[0]
    n = points.shape[0]
    inv = 1.0 / cell
    # 1. counting sort of the points' z by cell, then each cell's lowest point and dense layer
    cell_of = np.empty(n, dtype=np.int64)
    starts = np.zeros(g * g + 1, dtype=np.int64)
    for p in range(n):
        ix = math.floor((points[p, 0] + range_m) * inv)
        iy = math.floor((points[p, 1] + range_m) * inv)
        if ix < 0 or iy < 0 or ix >= g or iy >= g:
            cell_of[p] = -1
        else:
            c = ix * g + iy
            cell_of[p] = c
            starts[c + 1] += 1
    for c in range(g * g):
        starts[c + 1] += starts[c]
    fill = starts[:-1].copy()
    zs = np.empty(starts[g * g], dtype=np.float32)
    for p in range(n):
        c = cell_of[p]
        if c >= 0:
            zs[fill[c]] = points[p, 2]
            fill[c] += 1
    dense = np.full((g, g), np.inf, dtype=np.float32)
    cell_low = np.full(g * g, np.inf, dtype=np.float32)
    counts = np.zeros(LAYER_BINS, dtype=np.int64)
    mins = np.empty(LAYER_BINS, dtype=np.float32)
    for c in range(g * g):
        a, b = starts[c], starts[c + 1]
        if b > a:
            cell_low[c], dense[c // g, c % g] = _dense_layer(zs, a, b, support, band, counts, mins)
    # 2. the lowest point above the floor that the neighbours' dense layers set
    near = np.empty((2 * NEIGHBOUR_REACH + 1) ** 2, dtype=np.float32)
    lows = np.empty_like(near)
    # the lowest ground each cell's surroundings allow; step 3 never pulls a cell below it
    floors = np.full((g, g), -np.inf, dtype=np.float32)
    for ix in range(g):
        for iy in range(g):
            c = ix * g + iy
            a, b = starts[c], starts[c + 1]
            heights[ix, iy] = np.inf
            if b == a:
                continue
            k = 0
            m = 0
            for jx in range(max(ix - NEIGHBOUR_REACH, 0), min(ix + NEIGHBOUR_REACH + 1, g)):
                for jy in range(max(iy - NEIGHBOUR_REACH, 0), min(iy + NEIGHBOUR_REACH + 1, g)):
                    j = jx * g + jy
                    if j == c or starts[j + 1] == starts[j]:
                        continue
                    if dense[jx, jy] != np.inf:
                        near[k] = dense[jx, jy]
                        k += 1
                    lows[m] = cell_low[j]
                    m += 1
            if k < NEIGHBOUR_MIN:  # sparse surroundings: their lowest points, if enough
                if m < NEIGHBOUR_MIN:
                    heights[ix, iy] = dense[ix, iy]
                    continue
                near[:m] = lows[:m]
                k = m
            _sort_small(near, k)
            floor = near[int(REFERENCE_QUANTILE * (k - 1))] - max_drop
            floors[ix, iy] = floor
            h = np.inf
            for i in range(a, b):
                if floor <= zs[i] < h:
                    h = zs[i]
            heights[ix, iy] = h
    # 3. slope relaxation: no cell more than the slope allows above its neighbours
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
                h = max(h, floors[ix, iy])
                if h < heights[ix, iy]:
                    heights[ix, iy] = h
                    changed = True
        if not changed:
            break
    for p in range(n):
        c = cell_of[p]
        if c < 0:
            height_above[p] = np.nan
        else:
            height_above[p] = points[p, 2] - heights[c // g, c % g]


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
