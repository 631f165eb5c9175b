"""Exact k-nearest-neighbour search over the bank with cluster pruning (pure numpy/numba).

The brute-force scan (``_cpu.knn_topk_kernel``) does ``N * B * D`` multiply-adds whatever the
queries are. Embeddings of a trained network are not spread evenly over the sphere: the bank
falls into tight groups, and an in-distribution query's k nearest entries sit in one or two of
them. ``KnnIndex`` groups the bank by spherical k-means and keeps, per group, its centroid
direction and its angular radius ``r`` (the largest angle between the centroid and a member).
By the triangle inequality on the sphere, no member of a group whose centroid is at angle
``theta`` from the query can have a cosine above ``cos(max(0, theta - r))``. The search visits
groups in decreasing order of that bound and stops at the first group whose bound cannot beat
the k-th best similarity found so far: the answer is the brute force's, not an approximation.

The saving depends on the data; on a bank of random directions nothing can be pruned, which
is why ``CpuBackend`` measures the share of the bank it scans and falls back to the brute force
when pruning does not pay (see ``_cpu.CpuBackend``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
from numba import njit, prange
from numpy.typing import NDArray

#: a group is skipped only when its bound is below the k-th best by more than this: float32
#: dot products of unit vectors carry ~1e-6 of rounding, which the bound does not
PRUNE_MARGIN: Final = 1e-4


@dataclass(frozen=True)
class KnnIndex:
    """The bank reordered group by group, with each group's bound data.

    ``bank`` ``[B, D]`` float32 unit rows, group g being rows ``starts[g]:starts[g + 1]``;
    ``centroids_t`` ``[D, G]`` float32 unit vectors, transposed so that the kernel's bound pass
    runs along the groups (float32: its ~4e-6 error moves a bound by at most twice that, far
    inside ``PRUNE_MARGIN``); ``cos_radius`` / ``sin_radius`` ``[G]`` the cosine and sine of each
    group's angular radius (radians, in [0, pi]).
    """

    bank: NDArray[np.float32]
    starts: NDArray[np.int64]
    centroids_t: NDArray[np.float32]
    cos_radius: NDArray[np.float64]
    sin_radius: NDArray[np.float64]

    @property
    def groups(self) -> int:
        return int(self.centroids_t.shape[1])


def default_groups(bank_size: int) -> int:
    """About ``3 sqrt(B)`` groups: a few dozen rows each at 10^4, ~100 at 10^5."""
    return max(1, min(bank_size, round(3.0 * math.sqrt(bank_size))))


def _nearest_centroid(
    x64: NDArray[np.float64], centroids: NDArray[np.float64], rows_per_block: int = 4096
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Per row, the centroid of largest dot product and that dot product, computed in blocks
    of rows so the temporary stays small (10^5 rows x 950 groups would be 760 MB at once)."""
    n = x64.shape[0]
    assign = np.empty(n, dtype=np.int64)
    best = np.empty(n, dtype=np.float64)
    for lo in range(0, n, rows_per_block):
        sims = x64[lo : lo + rows_per_block] @ centroids.T
        assign[lo : lo + rows_per_block] = sims.argmax(axis=1)
        best[lo : lo + rows_per_block] = sims.max(axis=1)
    return assign, best


def build_knn_index(
    bank: NDArray[np.float32], groups: int | None = None, iterations: int = 10, seed: int = 0
) -> KnnIndex:
    """Spherical k-means of the unit rows of ``bank`` ``[B, D]`` into ``groups`` groups.

    Deterministic for a given ``seed``. An emptied group is re-seeded with the row farthest
    from its own centroid. The index is exact whatever the clustering quality: a poor one
    only prunes less.
    """
    rows = np.ascontiguousarray(bank, dtype=np.float32)
    n = rows.shape[0]
    g = default_groups(n) if groups is None else max(1, min(int(groups), n))
    rng = np.random.default_rng(seed)
    x64 = rows.astype(np.float64)
    centroids = x64[rng.choice(n, size=g, replace=False)]
    for _ in range(iterations):
        assign, own = _nearest_centroid(x64, centroids)
        sums = np.zeros_like(centroids)
        np.add.at(sums, assign, x64)
        counts = np.bincount(assign, minlength=g)
        for empty in np.flatnonzero(counts == 0):
            far = int(own.argmin())
            sums[empty], own[far] = x64[far], np.inf
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        centroids = np.where(norms > 0.0, sums / np.where(norms > 0.0, norms, 1.0), centroids)
    # the radii are measured from the centroids as stored (float32), so the kernel's bound
    # holds for exactly the vectors it uses
    centroids = centroids.astype(np.float32).astype(np.float64)
    assign, own = _nearest_centroid(x64, centroids)
    order = np.argsort(assign, kind="stable")
    counts = np.bincount(assign, minlength=g)
    starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    # exact angles between the rows and centroids as stored (norms are 1 only to ~1e-7)
    norms = np.linalg.norm(x64, axis=1) * np.linalg.norm(centroids, axis=1)[assign]
    cosines = own / np.where(norms > 0.0, norms, 1.0)
    angles = np.arccos(np.clip(cosines, -1.0, 1.0))
    radius = np.zeros(g)
    np.maximum.at(radius, assign, angles)
    return KnnIndex(
        bank=np.ascontiguousarray(rows[order]),
        starts=starts,
        centroids_t=np.ascontiguousarray(centroids.T, dtype=np.float32),  # exact: float32 values
        cos_radius=np.cos(radius),
        sin_radius=np.sin(radius),
    )


@njit(cache=True)
def offer_descending(top: NDArray[np.float32], s: np.float32) -> None:  # pragma: no cover - numba
    """Insert ``s`` into the descending list ``top`` if it beats its last entry."""
    k = top.shape[0]
    if s > top[k - 1]:
        pos = k - 1
        while pos > 0 and top[pos - 1] < s:
            top[pos] = top[pos - 1]
            pos -= 1
        top[pos] = s


# reassoc + contract as in the brute-force kernel: each D-term float32 dot product is split
# into vector partial sums (rounding, not accuracy, changes; the tests hold it to 2e-6)
@njit(cache=True, fastmath={"reassoc", "contract"})
def _scan_group(
    query: NDArray[np.float32],
    bank: NDArray[np.float32],
    start: int,
    end: int,
    top: NDArray[np.float32],
) -> None:  # pragma: no cover - numba
    """Offer the similarities of rows ``start:end`` to the descending list ``top`` ``[k]``.

    Four rows per pass: four independent dot products keep the FMA units busy where one
    would wait on its own running sum.
    """
    dim = bank.shape[1]
    b = start
    while b + 4 <= end:
        s0 = np.float32(0.0)
        s1 = np.float32(0.0)
        s2 = np.float32(0.0)
        s3 = np.float32(0.0)
        for d in range(dim):
            q = query[d]
            s0 += q * bank[b, d]
            s1 += q * bank[b + 1, d]
            s2 += q * bank[b + 2, d]
            s3 += q * bank[b + 3, d]
        offer_descending(top, s0)
        offer_descending(top, s1)
        offer_descending(top, s2)
        offer_descending(top, s3)
        b += 4
    while b < end:
        s = np.float32(0.0)
        for d in range(dim):
            s += query[d] * bank[b, d]
        offer_descending(top, s)
        b += 1


@njit(parallel=True, cache=True)
def knn_pruned_kernel(
    queries: NDArray[np.float32],
    bank: NDArray[np.float32],
    starts: NDArray[np.int64],
    centroids_t: NDArray[np.float32],
    cos_radius: NDArray[np.float64],
    sin_radius: NDArray[np.float64],
    top: NDArray[np.float32],
    scanned: NDArray[np.int64],
) -> None:  # pragma: no cover - numba
    """Top-k cosine similarities ``top`` ``[N, k]`` (descending) of unit ``queries`` ``[N, D]``.

    Arrays as in ``KnnIndex``; ``scanned[n]`` receives how many bank rows query n compared
    with. A zero query has similarity 0 with every row, as in the brute force. Per query: the
    bound of every group (one pass along the groups, in the kernel: a BLAS product here would
    wake OpenBLAS's thread pool between numba's parallel regions, and the two pools fight over
    the cores), the group of the highest bound scanned first, which usually settles the k-th
    best; then only the groups whose bound still beats it, best bound first, until none can.
    """
    n_q, dim = queries.shape
    n_groups = centroids_t.shape[1]
    k = top.shape[1]
    for n in prange(n_q):
        cos_theta = np.zeros(n_groups, dtype=np.float32)
        qnorm = 0.0
        for d in range(dim):
            qd = queries[n, d]
            qnorm += np.float64(qd) * np.float64(qd)
            for g in range(n_groups):
                cos_theta[g] += qd * centroids_t[d, g]
        qnorm = math.sqrt(qnorm)
        if qnorm == 0.0:
            for j in range(k):
                top[n, j] = np.float32(0.0)
            scanned[n] = 0
            continue
        for j in range(k):
            top[n, j] = -np.float32(np.inf)
        bound = np.empty(n_groups)
        for g in range(n_groups):
            c = min(1.0, max(-1.0, np.float64(cos_theta[g]) / qnorm))
            # cos(max(0, theta - r)): 1 inside the group's cone, cos(theta - r) outside it
            outside = c * cos_radius[g] + math.sqrt(1.0 - c * c) * sin_radius[g]
            bound[g] = 1.0 if c >= cos_radius[g] else outside
        first = np.argmax(bound)
        _scan_group(queries[n], bank, starts[first], starts[first + 1], top[n])
        rows = starts[first + 1] - starts[first]
        bound[first] = -np.inf
        kth = top[n, k - 1]
        candidates = np.flatnonzero(bound + PRUNE_MARGIN > kth)
        order = candidates[np.argsort(-bound[candidates])]
        for g in order:
            if bound[g] + PRUNE_MARGIN <= top[n, k - 1]:
                break  # sorted: no later group can place a row in the top k either
            _scan_group(queries[n], bank, starts[g], starts[g + 1], top[n])
            rows += starts[g + 1] - starts[g]
        scanned[n] = rows
