"""Clustering: connected components of occupied cells on a fine BEV grid (numba).

Points that survived ground removal are dropped into square cells of ``cell`` metres; occupied
cells within ``reach`` cells of each other (Chebyshev distance) form one object candidate: a
reach of 2 bridges the gaps that beam dropout and thin occluders (poles, people) cut into a car. One pass over the points, one
flood fill over the occupied cells only: linear in the number of points, no per-point search.
The dense label grid is a caller-owned buffer (allocated once, left all -1 after each call).
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
def cluster_kernel(
    xy: F32, grid: I32, range_m: float, cell: float, reach: int, min_points: int, labels: I32
) -> int:
    """Label each point of ``xy`` (N, >=2) with its cluster id (0..C-1) or -1; returns C.

    ``grid`` (G, G) must be all -1 on entry and is all -1 again on return. Clusters with fewer
    than ``min_points`` points get -1. Ids follow the first appearance of a cell in the input.
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
            grid[ix, iy] = -2  # occupied, not yet labelled
            occupied[n_occ] = c
            n_occ += 1
    stack = np.empty(n_occ, dtype=np.int64)
    n_comp = 0
    for k in range(n_occ):
        c0 = occupied[k]
        if grid[c0 // g, c0 % g] != -2:
            continue
        grid[c0 // g, c0 % g] = n_comp
        top = 0
        stack[top] = c0
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
                    if grid[jx, jy] == -2:
                        grid[jx, jy] = n_comp
                        stack[top] = jx * g + jy
                        top += 1
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
