"""numba CPU kernels for the raw detection scores, and the CPU backend that runs them.

Kernels are pure (numba/numpy only, no I/O, no logging) and compile lazily on first call
(``cache=True`` keeps the machine code across processes). ``fastmath`` stays off except for the
reassociation and contraction of the kNN dot products (see ``knn_topk_kernel``): the logit
scores must agree with the float64 reference to 1e-12, and the Mahalanobis kernel's only
reassociation is its explicit grouping of four products (the tests hold it to 1e-8 absolute on
distances of order 10).

Inputs are validated by the adapter (``_validate``) before they reach a kernel; the kernels still
define the result for every float they accept (-inf logits, zero vectors).
"""

from __future__ import annotations

import logging
import math
from typing import Final, Literal

import numba
import numpy as np
from numba import njit, prange
from numpy.typing import NDArray

from agent.errors import ScoringError
from agent.scoring._exp import exp_nonpositive_kernel
from agent.scoring._knn_pruned import (
    KnnIndex,
    build_knn_index,
    knn_pruned_kernel,
    offer_descending,
)
from agent.scoring._model import ScoreModel

logger = logging.getLogger(__name__)

#: bank rows per kNN chunk at least, so the per-chunk top-k lists stay few to merge
_MIN_CHUNK_ROWS = 1024
#: "auto" prunes banks of at least this many rows; a smaller one costs less to scan whole
PRUNE_MIN_BANK: Final = 4096
#: "auto" watches this many queries, then keeps pruning only if they compared with at most
#: ``PRUNE_MAX_SCAN`` of the bank on average (beyond it the bounds cost more than they save)
PRUNE_TRIAL_QUERIES: Final = 512
PRUNE_MAX_SCAN: Final = 0.35

#: kNN search: exact either way; "auto" prunes when the bank is large and pruning pays
KnnMethod = Literal["auto", "pruned", "brute"]

# column order of the logit-score kernel output
MSP, ENTROPY, MUTUAL_INFO, ENERGY = 0, 1, 2, 3


# The logit and Mahalanobis kernels are serial: at N=64 detections a frame they take tens of
# microseconds, less than waking a thread pool costs (the benchmark records both).


@njit(cache=True)
def logit_scores_kernel(
    logits: NDArray[np.float32], out: NDArray[np.float64]
) -> None:  # pragma: no cover - numba
    """Per detection: 1 - max mean-softmax, entropy, mutual information (nats), energy.

    ``logits`` ``[N, M, K]``; ``out`` ``[N, 4]`` float64 in the column order above. A member
    whose logits are all -inf is refused by the adapter. Energy is ``-logsumexp(mean logits)``
    and +inf when every class has -inf mean logit.

    The exponentials are the cost: one per logit and one per mean logit, all of them of
    shifted values ``<= 0``. They are gathered into flat arrays and computed in two vectorised
    passes of ``exp_nonpositive_kernel``; the kept exponentials serve both the probabilities and
    the entropies, so the only libm calls left are the logarithms (M + K + 1 per detection).
    """
    n_det, n_mem, n_cls = logits.shape
    shifted = np.empty(n_det * n_mem * n_cls)  # each member's logits minus their max
    mean_shifted = np.empty(n_det * n_cls)  # each detection's mean logits minus their max
    mean_max = np.empty(n_det)
    for n in range(n_det):
        for m in range(n_mem):
            base = (n * n_mem + m) * n_cls
            mx = -np.inf
            for k in range(n_cls):
                v = np.float64(logits[n, m, k])
                if v > mx:
                    mx = v
            for k in range(n_cls):
                # shift first: mx + log(acc) would round log(acc) away for huge logits
                shifted[base + k] = np.float64(logits[n, m, k]) - mx
        mx = -np.inf
        for k in range(n_cls):
            acc = 0.0
            for m in range(n_mem):
                acc += np.float64(logits[n, m, k])
            mean_shifted[n * n_cls + k] = acc / n_mem
            if acc / n_mem > mx:
                mx = acc / n_mem
        mean_max[n] = mx
        for k in range(n_cls):
            # -inf - -inf (no finite mean logit) is NaN, which the exp maps to 0
            mean_shifted[n * n_cls + k] -= mx
    expo = np.empty_like(shifted)
    exp_nonpositive_kernel(shifted, expo)
    mean_expo = np.empty_like(mean_shifted)
    exp_nonpositive_kernel(mean_shifted, mean_expo)
    pbar = np.empty(n_cls)
    for n in range(n_det):
        pbar[:] = 0.0
        mean_ent = 0.0
        for m in range(n_mem):
            base = (n * n_mem + m) * n_cls
            acc = 0.0
            for k in range(n_cls):
                acc += expo[base + k]
            log_acc = math.log(acc)
            ent = 0.0
            for k in range(n_cls):
                p = expo[base + k] / acc
                pbar[k] += p
                if p > 0.0:  # 0 * log 0 = 0 (also skips -inf logits)
                    ent -= p * (shifted[base + k] - log_acc)
            mean_ent += ent
        pmax = 0.0
        ent_bar = 0.0
        for k in range(n_cls):
            p = pbar[k] / n_mem
            if p > pmax:
                pmax = p
            if p > 0.0:
                ent_bar -= p * math.log(p)
        mi = ent_bar - mean_ent / n_mem
        if mean_max[n] == -np.inf:
            energy = np.inf
        else:
            acc = 0.0
            for k in range(n_cls):
                acc += mean_expo[n * n_cls + k]
            energy = -(mean_max[n] + math.log(acc))
        out[n, MSP] = 1.0 - pmax
        out[n, ENTROPY] = ent_bar
        out[n, MUTUAL_INFO] = mi if mi > 0.0 else 0.0  # >= 0 in exact arithmetic (Jensen)
        out[n, ENERGY] = energy


@njit(cache=True)
def mahalanobis_kernel(
    emb: NDArray[np.float32],
    whiten: NDArray[np.float64],
    whitened_means: NDArray[np.float64],
    out: NDArray[np.float64],
) -> None:  # pragma: no cover - numba
    """Min over classes of the Mahalanobis distance (embedding units, not squared).

    ``whiten`` is the upper-triangular ``W`` with ``precision = W.T @ W``; the squared distance
    to class c is ``||W x - W mu_c||^2``, a sum of squares, so it never goes negative by
    round-off. ``whitened_means`` ``[C, D]`` = ``mu_c @ W.T``.

    All detections are processed together with the detection index innermost
    (``z[:] += W[j, i] * x[i, :]``): independent lanes that vectorise. Four terms of ``i`` are
    added per pass, so each lane of ``z`` is loaded and stored once per four products rather
    than once per product (the loop is bound by those loads and stores; this reassociates the
    sum, which moves results by ~1e-16 relative). One whitened coordinate ``j`` at a time: its
    row ``z`` is folded into the class distances while it is still in L1 cache.
    """
    n_det, dim = emb.shape
    n_cls = whitened_means.shape[0]
    xt = np.empty((dim, n_det))
    for i in range(dim):  # contiguous writes, strided reads: 1.6x faster than the other order
        for n in range(n_det):
            xt[i, n] = emb[n, i]
    z = np.empty(n_det)
    d2 = np.zeros((n_cls, n_det))
    for j in range(dim):
        z[:] = 0.0
        i = j  # W is upper-triangular: W[j, i] = 0 for i < j
        while i + 4 <= dim:
            w0, w1, w2, w3 = whiten[j, i], whiten[j, i + 1], whiten[j, i + 2], whiten[j, i + 3]
            for n in range(n_det):
                z[n] += (w0 * xt[i, n] + w1 * xt[i + 1, n]) + (
                    w2 * xt[i + 2, n] + w3 * xt[i + 3, n]
                )
            i += 4
        while i < dim:
            w = whiten[j, i]
            for n in range(n_det):
                z[n] += w * xt[i, n]
            i += 1
        for c in range(n_cls):
            mu = whitened_means[c, j]
            for n in range(n_det):
                t = z[n] - mu
                d2[c, n] += t * t
    for n in range(n_det):
        best = np.inf
        for c in range(n_cls):
            if d2[c, n] < best:
                best = d2[c, n]
        out[n] = math.sqrt(best)


# reassoc + contract only here: they let LLVM split each D-term float32 dot product into 8-lane
# partial sums with FMA (several times faster, see benchmarks/); that changes the rounding of
# the float32 sum, not its accuracy (the tests hold it to 2e-6 of the float64 reference)
@njit(parallel=True, cache=True, fastmath={"reassoc", "contract"})
def knn_topk_kernel(
    queries: NDArray[np.float32], bank: NDArray[np.float32], top: NDArray[np.float32]
) -> None:  # pragma: no cover - numba
    """Partial top-k cosine similarities of each query, one partial list per bank chunk.

    ``queries`` ``[N, D]`` L2-normalised with N a multiple of 4 (pad with zero rows);
    ``bank`` ``[B, D]`` unit rows; ``top`` ``[C, N, k]`` is filled with each chunk's k largest
    similarities in descending order (-inf where a chunk has fewer than k entries). Chunks run
    in parallel, each reading its slice of the bank once. The inner block is 2 bank rows x 4
    queries: 8 dot products from 6 row loads, which keeps the FMA units fed from L1 (a
    1 x 4 block is load-bound and measured 2-3x slower).
    """
    n_chunks, n_q, k = top.shape
    n_bank, dim = bank.shape
    chunk = (n_bank + n_chunks - 1) // n_chunks
    chunk += chunk % 2  # even chunks: only the last one can end on a single row
    for c in prange(n_chunks):
        for n in range(n_q):
            for j in range(k):
                top[c, n, j] = -np.inf
        b_start = min(n_bank, c * chunk)
        b_end = min(n_bank, b_start + chunk)
        for b in range(b_start, b_end - 1, 2):
            for n in range(0, n_q, 4):
                s0 = np.float32(0.0)
                s1 = np.float32(0.0)
                s2 = np.float32(0.0)
                s3 = np.float32(0.0)
                t0 = np.float32(0.0)
                t1 = np.float32(0.0)
                t2 = np.float32(0.0)
                t3 = np.float32(0.0)
                for d in range(dim):
                    x = bank[b, d]
                    y = bank[b + 1, d]
                    a0 = queries[n, d]
                    a1 = queries[n + 1, d]
                    a2 = queries[n + 2, d]
                    a3 = queries[n + 3, d]
                    s0 += a0 * x
                    s1 += a1 * x
                    s2 += a2 * x
                    s3 += a3 * x
                    t0 += a0 * y
                    t1 += a1 * y
                    t2 += a2 * y
                    t3 += a3 * y
                offer_descending(top[c, n], s0)
                offer_descending(top[c, n + 1], s1)
                offer_descending(top[c, n + 2], s2)
                offer_descending(top[c, n + 3], s3)
                offer_descending(top[c, n], t0)
                offer_descending(top[c, n + 1], t1)
                offer_descending(top[c, n + 2], t2)
                offer_descending(top[c, n + 3], t3)
        if (b_end - b_start) % 2:
            b = b_end - 1
            for n in range(n_q):
                s = np.float32(0.0)
                for d in range(dim):
                    s += queries[n, d] * bank[b, d]
                offer_descending(top[c, n], s)


@njit(cache=True)
def merge_topk_kernel(
    top: NDArray[np.float32], out: NDArray[np.float32]
) -> None:  # pragma: no cover - numba
    """Merge partial descending top-k lists ``[C, N, k]`` into ``out`` ``[N, k]``."""
    n_chunks, n_q, k = top.shape
    for n in range(n_q):
        for j in range(k):
            out[n, j] = -np.inf
        for c in range(n_chunks):
            for j in range(k):
                s = top[c, n, j]
                if s <= out[n, k - 1]:
                    break  # the partial list is sorted: nothing further can enter
                pos = k - 1
                while pos > 0 and out[n, pos - 1] < s:
                    out[n, pos] = out[n, pos - 1]
                    pos -= 1
                out[n, pos] = s


class CpuBackend:
    """Runs the numba CPU kernels for one ``ScoreModel`` (the device-independent statistics).

    ``knn`` picks the exact kNN search: ``"brute"`` scans the whole bank; ``"pruned"`` groups
    the bank once (spherical k-means, at construction) and skips the groups that cannot reach
    the top k (``_knn_pruned``); ``"auto"`` prunes banks of ``PRUNE_MIN_BANK`` rows or more and
    returns to the brute force for good if the first ``PRUNE_TRIAL_QUERIES`` queries compared
    with more than ``PRUNE_MAX_SCAN`` of the bank on average.
    """

    name = "cpu"

    def __init__(self, model: ScoreModel, knn: KnnMethod = "auto") -> None:
        if knn not in ("auto", "pruned", "brute"):
            raise ScoringError(f"knn must be 'auto', 'pruned' or 'brute', got {knn!r}")
        self._model = model
        self._knn: KnnMethod = knn
        prune = knn == "pruned" or (knn == "auto" and model.bank.shape[0] >= PRUNE_MIN_BANK)
        self._index: KnnIndex | None = build_knn_index(model.bank) if prune else None
        self._queries = 0
        self._rows_compared = 0

    @property
    def knn_method(self) -> str:
        """The kNN search the next call uses: "pruned" or "brute"."""
        return "pruned" if self._index is not None else "brute"

    @property
    def knn_groups(self) -> int:
        """Groups of the pruned search's index (0 when the bank is scanned whole)."""
        return self._index.groups if self._index is not None else 0

    @property
    def knn_scan_share(self) -> float:
        """Mean share of the bank the pruned search compared each query with so far (NaN if
        it has not run)."""
        if not self._queries:
            return math.nan
        return float(self._rows_compared / (self._queries * self._model.bank.shape[0]))

    def logit_scores(self, logits: NDArray[np.float32]) -> NDArray[np.float64]:
        """``[N, 4]`` float64: msp, entropy, mutual_info, energy (see ``logit_scores_kernel``)."""
        out = np.empty((logits.shape[0], 4), dtype=np.float64)
        if logits.shape[0]:
            logit_scores_kernel(logits, out)
        return out

    def mahalanobis(self, emb: NDArray[np.float32]) -> NDArray[np.float64]:
        """``[N]`` float64 min-over-classes Mahalanobis distance."""
        out = np.empty(emb.shape[0], dtype=np.float64)
        if emb.shape[0]:
            mahalanobis_kernel(emb, self._model.whiten, self._model.whitened_means, out)
        return out

    def knn_similarities(self, unit_queries: NDArray[np.float32]) -> NDArray[np.float32]:
        """``[N, k]`` float32: the k largest cosine similarities to the bank, descending."""
        if unit_queries.shape[0] == 0:
            return np.empty((0, self._model.k), dtype=np.float32)
        if self._index is not None:
            return self._pruned(unit_queries, self._index)
        return self._brute(unit_queries)

    def _pruned(self, queries: NDArray[np.float32], index: KnnIndex) -> NDArray[np.float32]:
        out = np.empty((queries.shape[0], self._model.k), dtype=np.float32)
        scanned = np.empty(queries.shape[0], dtype=np.int64)
        knn_pruned_kernel(
            queries,
            index.bank,
            index.starts,
            index.centroids_t,
            index.cos_radius,
            index.sin_radius,
            out,
            scanned,
        )
        self._queries += queries.shape[0]
        self._rows_compared += int(scanned.sum())
        if (
            self._knn == "auto"
            and self._queries >= PRUNE_TRIAL_QUERIES
            and self.knn_scan_share > PRUNE_MAX_SCAN
        ):
            logger.info(
                "knn: pruning compared %d queries with %.0f%% of the %d-row bank on average; "
                "scanning it whole from now on",
                self._queries,
                100 * self.knn_scan_share,
                self._model.bank.shape[0],
            )
            self._index = None
        return out

    def _brute(self, unit_queries: NDArray[np.float32]) -> NDArray[np.float32]:
        model = self._model
        n_q = unit_queries.shape[0]
        n_bank = model.bank.shape[0]
        # the kernel takes queries four at a time: pad with zero rows, drop their results
        padded = np.zeros(((n_q + 3) // 4 * 4, model.dim), dtype=np.float32)
        padded[:n_q] = unit_queries
        # a few chunks per thread for load balance, each still thousands of rows long
        n_chunks = max(1, min(4 * numba.get_num_threads(), n_bank // _MIN_CHUNK_ROWS))
        partial = np.empty((n_chunks, padded.shape[0], model.k), dtype=np.float32)
        out = np.empty((padded.shape[0], model.k), dtype=np.float32)
        knn_topk_kernel(padded, model.bank, partial)
        merge_topk_kernel(partial, out)
        return out[:n_q]
