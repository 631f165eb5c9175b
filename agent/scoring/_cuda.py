"""numba CUDA kernels for the raw detection scores, and the CUDA backend that runs them.

Imported only when a CUDA scorer is built. Kernels are generated per compile-time shape
(classes, embedding size, k, tile sizes) by cached factories, so nothing is compiled at import:
each compiles on its first launch. The logit and Mahalanobis kernels work in float64 (N is ~64
detections a frame, the work is latency-bound, and it keeps them equal to the CPU kernels); the
kNN scan, which carries the load, works in float32 like the CPU one.

kNN (``_knn_kernel``): block (x = bank chunk, y = query tile). A block stages its ``QT`` queries
and, tile by tile, ``BT`` bank rows in shared memory (rows padded to ``D + 1`` floats so the
lanes of a warp hit distinct banks); thread (query, lane) scores rows ``lane, lane + LANES, ...``
of each tile and keeps its own top-k in a local array. Every thread writes its descending list to
``partial[chunk * LANES + lane, query]``; ``_merge_kernel`` (one thread a query) merges them.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, Protocol

import numba.cuda
import numpy as np
from numba import float32, float64
from numpy.typing import NDArray

from agent.errors import ScoringError
from agent.scoring._model import ScoreModel

#: logit-score threads per block (one detection each)
_LOGIT_THREADS = 64
#: Mahalanobis threads per block (one block per detection, threads stride over D and classes)
_MAHA_THREADS = 64
#: static shared memory a block may use on every CUDA GPU (bytes)
_SHARED_LIMIT = 48 * 1024
#: blocks the kNN grid aims for, so that a GPU of ~100 SMs holds a few blocks per SM
_KNN_TARGET_BLOCKS = 512


class Kernel(Protocol):
    """A numba CUDA dispatcher: launched as ``kernel[grid, block](*args)``."""

    def __getitem__(self, config: tuple[Any, ...]) -> Callable[..., None]: ...


#: numba.cuda is untyped for mypy (intrinsics are resolved by the compiler, not Python)
cuda: Any = numba.cuda


def _jit(fn: Callable[..., None]) -> Kernel:
    """``cuda.jit`` with a type: the dispatcher compiles on its first launch."""
    kernel: Kernel = cuda.jit(fn)
    return kernel


@functools.cache
def _logit_kernel(n_classes: int) -> Kernel:
    @_jit
    def kernel(logits: Any, out: Any) -> None:  # pragma: no cover - device code
        n = cuda.grid(1)
        if n >= logits.shape[0]:
            return
        n_mem = logits.shape[1]
        pbar = cuda.local.array(n_classes, float64)
        mlog = cuda.local.array(n_classes, float64)
        for k in range(n_classes):
            pbar[k] = 0.0
            mlog[k] = 0.0
        mean_ent = 0.0
        for m in range(n_mem):
            mx = -math.inf
            for k in range(n_classes):
                v = float64(logits[n, m, k])
                mlog[k] += v
                mx = max(mx, v)
            acc = 0.0
            for k in range(n_classes):
                acc += math.exp(float64(logits[n, m, k]) - mx)
            log_acc = math.log(acc)
            ent = 0.0
            for k in range(n_classes):
                lp = (float64(logits[n, m, k]) - mx) - log_acc
                p = math.exp(lp)
                pbar[k] += p
                if p > 0.0:
                    ent -= p * lp
            mean_ent += ent
        pmax = 0.0
        ent_bar = 0.0
        for k in range(n_classes):
            p = pbar[k] / n_mem
            pmax = max(pmax, p)
            if p > 0.0:
                ent_bar -= p * math.log(p)
        mi = ent_bar - mean_ent / n_mem
        mx = -math.inf
        for k in range(n_classes):
            mlog[k] /= n_mem
            mx = max(mx, mlog[k])
        if mx == -math.inf:
            energy = math.inf
        else:
            acc = 0.0
            for k in range(n_classes):
                acc += math.exp(mlog[k] - mx)
            energy = -(mx + math.log(acc))
        out[n, 0] = 1.0 - pmax
        out[n, 1] = ent_bar
        out[n, 2] = mi if mi > 0.0 else 0.0
        out[n, 3] = energy

    return kernel


@functools.cache
def _mahalanobis_kernel(dim: int, n_cls: int) -> Kernel:
    @_jit
    def kernel(emb: Any, whiten: Any, wmeans: Any, out: Any) -> None:  # pragma: no cover
        n = cuda.blockIdx.x
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        x = cuda.shared.array(dim, float64)
        z = cuda.shared.array(dim, float64)
        d2 = cuda.shared.array(n_cls, float64)
        for i in range(tid, dim, nt):
            x[i] = float64(emb[n, i])
        cuda.syncthreads()
        for j in range(tid, dim, nt):  # z = W x, W upper-triangular
            s = 0.0
            for i in range(j, dim):
                s += whiten[j, i] * x[i]
            z[j] = s
        cuda.syncthreads()
        for c in range(tid, n_cls, nt):
            s = 0.0
            for j in range(dim):
                t = z[j] - wmeans[c, j]
                s += t * t
            d2[c] = s
        cuda.syncthreads()
        if tid == 0:
            best = math.inf
            for c in range(n_cls):
                best = min(best, d2[c])
            out[n] = math.sqrt(best)

    return kernel


@functools.cache
def _knn_kernel(dim: int, k: int, qt: int, lanes: int, bt: int) -> Kernel:
    padded = dim + 1  # row stride in shared memory: 8 lanes read 8 rows from distinct banks

    @_jit
    def kernel(queries: Any, bank: Any, chunk: int, partial: Any) -> None:  # pragma: no cover
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        ql = tid // lanes
        lane = tid % lanes
        q0 = cuda.blockIdx.y * qt
        n_q = queries.shape[0]
        n_bank = bank.shape[0]
        qs = cuda.shared.array((qt, padded), float32)
        bs = cuda.shared.array((bt, padded), float32)
        for i in range(tid, qt * dim, nt):
            r = i // dim
            d = i % dim
            qs[r, d] = queries[q0 + r, d] if q0 + r < n_q else float32(0.0)
        top = cuda.local.array(k, float32)
        for j in range(k):
            top[j] = -math.inf
        b_start = cuda.blockIdx.x * chunk
        b_end = min(n_bank, b_start + chunk)
        for t0 in range(b_start, b_end, bt):
            cuda.syncthreads()  # the previous tile is no longer read
            for i in range(tid, bt * dim, nt):
                r = i // dim
                d = i % dim
                bs[r, d] = bank[t0 + r, d] if t0 + r < b_end else float32(0.0)
            cuda.syncthreads()
            w = min(bt, b_end - t0)
            for r in range(lane, w, lanes):
                s = float32(0.0)
                for d in range(dim):
                    s += qs[ql, d] * bs[r, d]
                if s > top[k - 1]:
                    pos = k - 1
                    while pos > 0 and top[pos - 1] < s:
                        top[pos] = top[pos - 1]
                        pos -= 1
                    top[pos] = s
        q = q0 + ql
        if q < n_q:
            row = cuda.blockIdx.x * lanes + lane
            for j in range(k):
                partial[row, q, j] = top[j]

    return kernel


@functools.cache
def _merge_kernel(k: int) -> Kernel:
    @_jit
    def kernel(partial: Any, out: Any) -> None:  # pragma: no cover
        q = cuda.grid(1)
        if q >= out.shape[0]:
            return
        best = cuda.local.array(k, float32)
        for j in range(k):
            best[j] = -math.inf
        for p in range(partial.shape[0]):
            for j in range(k):
                s = partial[p, q, j]
                if s <= best[k - 1]:
                    break  # each list is descending
                pos = k - 1
                while pos > 0 and best[pos - 1] < s:
                    best[pos] = best[pos - 1]
                    pos -= 1
                best[pos] = s
        for j in range(k):
            out[q, j] = best[j]

    return kernel


def _knn_shared_bytes(dim: int, query_tile: int, bank_tile: int) -> int:
    """Shared memory of one kNN block: query and bank tiles, rows padded to D + 1 float32."""
    return (query_tile + bank_tile) * (dim + 1) * 4


def _blocks(n: int, per_block: int) -> int:
    return max(1, (n + per_block - 1) // per_block)


class CudaBackend:
    """Runs the CUDA kernels; the model's arrays are copied to the GPU once, at construction.

    ``query_tile`` queries share a block, ``lanes`` threads split each query's bank rows and
    ``bank_tile`` rows are staged per step: ``query_tile * lanes`` threads a block (128 by
    default). The CUDA simulator tests shrink them.
    """

    name = "cuda"

    def __init__(
        self, model: ScoreModel, *, query_tile: int = 16, lanes: int = 8, bank_tile: int = 64
    ) -> None:
        self._model = model
        # the static shared-memory limit of a block is 48 KiB: shrink the bank tile for wide D
        while (
            bank_tile > lanes
            and _knn_shared_bytes(model.dim, query_tile, bank_tile) > _SHARED_LIMIT
        ):
            bank_tile //= 2
        if _knn_shared_bytes(model.dim, query_tile, bank_tile) > _SHARED_LIMIT:
            raise ScoringError(
                f"embedding dimension D={model.dim} needs "
                f"{_knn_shared_bytes(model.dim, query_tile, bank_tile)} bytes of shared memory "
                f"per kNN block (limit {_SHARED_LIMIT}); use a smaller query_tile or the CPU"
            )
        self._qt, self._lanes, self._bt = query_tile, lanes, bank_tile
        self._whiten = cuda.to_device(model.whiten)
        self._wmeans = cuda.to_device(model.whitened_means)
        # row-major [B, D]: consecutive threads load consecutive floats of a tile (coalesced)
        self._bank = cuda.to_device(model.bank)

    def logit_scores(self, logits: NDArray[np.float32]) -> NDArray[np.float64]:
        """``[N, 4]`` float64: msp, entropy, mutual_info, energy."""
        n = logits.shape[0]
        if n == 0:
            return np.empty((0, 4), dtype=np.float64)
        out = cuda.device_array((n, 4), dtype=np.float64)
        kernel = _logit_kernel(logits.shape[2])
        _launch(kernel, _blocks(n, _LOGIT_THREADS), _LOGIT_THREADS, cuda.to_device(logits), out)
        return np.asarray(out.copy_to_host())

    def mahalanobis(self, emb: NDArray[np.float32]) -> NDArray[np.float64]:
        """``[N]`` float64 min-over-classes Mahalanobis distance."""
        n = emb.shape[0]
        if n == 0:
            return np.empty(0, dtype=np.float64)
        out = cuda.device_array(n, dtype=np.float64)
        kernel = _mahalanobis_kernel(self._model.dim, self._model.whitened_means.shape[0])
        _launch(kernel, n, _MAHA_THREADS, cuda.to_device(emb), self._whiten, self._wmeans, out)
        return np.asarray(out.copy_to_host())

    def knn_similarities(self, unit_queries: NDArray[np.float32]) -> NDArray[np.float32]:
        """``[N, k]`` float32: the k largest cosine similarities to the bank, descending."""
        n_q = unit_queries.shape[0]
        k = self._model.k
        if n_q == 0:
            return np.empty((0, k), dtype=np.float32)
        n_bank = self._bank.shape[0]
        q_blocks = _blocks(n_q, self._qt)
        # chunk: a whole number of tiles, sized so the grid has about _KNN_TARGET_BLOCKS blocks
        want_chunks = max(1, _KNN_TARGET_BLOCKS // q_blocks)
        chunk = _blocks(_blocks(n_bank, want_chunks), self._bt) * self._bt
        n_chunks = _blocks(n_bank, chunk)
        partial = cuda.device_array((n_chunks * self._lanes, n_q, k), dtype=np.float32)
        out = cuda.device_array((n_q, k), dtype=np.float32)
        knn = _knn_kernel(self._model.dim, k, self._qt, self._lanes, self._bt)
        _launch(
            knn,
            (n_chunks, q_blocks),
            self._qt * self._lanes,
            cuda.to_device(unit_queries),
            self._bank,
            chunk,
            partial,
        )
        _launch(_merge_kernel(k), _blocks(n_q, 64), 64, partial, out)
        return np.asarray(out.copy_to_host())


def _launch(kernel: Kernel, grid: int | tuple[int, int], block: int, *args: object) -> None:
    kernel[grid, block](*args)
