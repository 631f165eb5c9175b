"""Clustering: connected components of occupied cells on a fine BEV grid (numba).

Points that survived ground removal are dropped into square cells of ``cell`` metres. A cell
is *tall* when one of its points stands at least ``bridge_height`` metres above the ground,
*low* otherwise. Tall cells within ``reach`` cells of each other (Chebyshev distance) form one
object candidate: a reach of 2 bridges the gaps that beam dropout and thin occluders (poles,
people) cut into a car. Low cells never join a tall cell's candidate: they form candidates
among themselves (a tyre or debris lying on the road). An object's own low points (feet,
wheels, bumpers) share cells with its taller points, since a LiDAR sees vertical faces. So
ground remnants that survive ground removal (road noise, curbs, verges, the lower fringe of a
multipath patch) neither widen a candidate nor chain two objects, or an object and the road,
into one. One pass over the points, one flood fill over the occupied cells only: linear in
the number of points, no per-point search. The dense label grid is a caller-owned buffer
(allocated once, left all -1 after each call).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]


@nb.njit(cache=True, nogil=True)
def _fill(grid: I32, seed: int, comp: int, want: int, reach: int, stack: I64) -> None:
    """Flood fill from cell ``seed`` over the cells marked ``want`` within ``reach`` of each
    other, labelling them ``comp``."""
    g = grid.shape[0]
    grid[seed // g, seed % g] = comp
    top = 0
    stack[top] = seed
    top += 1
    while top > 0:
        top -= 1
        c = stack[top]
        cx, cy = c // g, c % g
        for dx in range(-reach, reach + 1):
            for dy in range(-reach, reach + 1):
                jx, jy = cx + dx, cy + dy
                if jx < 0 or jy < 0 or jx >= g or jy >= g:
                    continue
                if grid[jx, jy] == want:
                    grid[jx, jy] = comp
                    stack[top] = jx * g + jy
                    top += 1


@nb.njit(cache=True, nogil=True)
def cluster_kernel(
    xy: F32,
    height_above: F32,
    grid: I32,
    range_m: float,
    cell: float,
    reach: int,
    bridge_height: float,
    min_points: int,
    labels: I32,
) -> int:
    """Label each point of ``xy`` (N, >=2) with its cluster id (0..C-1) or -1; returns C.

    ``height_above`` (N,) is each point's height above the ground (metres); a cell with a
    point at least ``bridge_height`` above it is tall (``bridge_height`` <= 0: every cell is
    tall, plain connected components). ``grid`` (G, G) must be all -1 on entry and is all -1
    again on return. Clusters with fewer than ``min_points`` points get -1. Ids follow the
    first appearance of a cell in the input, clusters of tall cells first.
    """
    g = grid.shape[0]
    n = xy.shape[0]
    inv = 1.0 / cell
    cell_of = np.empty(n, dtype=np.int64)
    occupied = np.empty(n, dtype=np.int64)
    n_occ = 0
    for p in range(n):
        ix = math.floor((xy[p, 0] + range_m) * inv)
        iy = math.floor((xy[p, 1] + range_m) * inv)
        if ix < 0 or iy < 0 or ix >= g or iy >= g:
            cell_of[p] = -1
            continue
        c = ix * g + iy
        cell_of[p] = c
        if grid[ix, iy] == -1:
            grid[ix, iy] = -3  # occupied and low until a tall point is seen
            occupied[n_occ] = c
            n_occ += 1
        if height_above[p] >= bridge_height:
            grid[ix, iy] = -2  # occupied and tall
    stack = np.empty(n_occ, dtype=np.int64)
    n_comp = 0
    for want in (-2, -3):  # tall cells, then the low cells among themselves
        for k in range(n_occ):
            c0 = occupied[k]
            if grid[c0 // g, c0 % g] == want:
                _fill(grid, c0, n_comp, want, reach, stack)
                n_comp += 1
    counts = np.zeros(n_comp, dtype=np.int64)
    for p in range(n):
        c = cell_of[p]
        if c >= 0:
            comp = grid[c // g, c % g]
            labels[p] = comp
            counts[comp] += 1
        else:
            labels[p] = -1
    # compact: drop small components, keep first-appearance order
    remap = np.full(n_comp, -1, dtype=np.int32)
    kept = 0
    for comp in range(n_comp):
        if counts[comp] >= min_points:
            remap[comp] = kept
            kept += 1
    for p in range(n):
        if labels[p] >= 0:
            labels[p] = remap[labels[p]]
    for k in range(n_occ):
        c = occupied[k]
        grid[c // g, c % g] = -1
    return kept


def group_by_label(labels: I32, n_clusters: int) -> tuple[I64, I64]:
    """Point indices sorted by cluster and the (C + 1,) offsets of each cluster's run.

    Points labelled -1 are left out. Within a cluster the input order is kept (stable sort),
    so a scan-ordered cloud stays scan-ordered per cluster.
    """
    keep = np.flatnonzero(labels >= 0)
    order = keep[np.argsort(labels[keep], kind="stable")]
    counts = np.bincount(labels[keep], minlength=n_clusters)
    offsets = np.zeros(n_clusters + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return order.astype(np.int64), offsets
