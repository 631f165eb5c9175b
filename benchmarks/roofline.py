"""How close a kernel runs to the arithmetic limit of the cores it runs on.

A kernel that must do F floating-point operations cannot take less than F / R seconds, where R
is the best rate the cores sustain. A large matrix product through numpy's BLAS (OpenBLAS) is the
practical R: it is blocked for registers and caches and runs near the cores' peak. Comparing a
kernel's rate with R, measured in the same run, says whether it can still get faster, and the
floor F / R bounds the speed-up over any baseline: ``baseline time / floor``.

The GEMM rate is measured in a child process because OpenBLAS fixes its thread count when numpy
is first imported (``OPENBLAS_NUM_THREADS``).

Run: ``OPENBLAS_NUM_THREADS=1 .venv/bin/python -m benchmarks.roofline`` prints the GEMM rates
as JSON.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.timing import timeit

#: matrix order of the rate measurement: large enough for BLAS to reach its blocked steady state
#: (2 MiB per float64 operand), small enough to take milliseconds
GEMM_ORDER = 512
#: also measured: the order of the scoring benchmark's own products (64 detections x D = 64),
#: where BLAS's per-call and edge costs are part of the rate
SMALL_ORDER = 64


def measure_gemm_rates(order: int, repeats: int) -> dict[str, float]:
    """GFLOP/s of ``a @ b`` for square float64 (dgemm) and float32 (sgemm) matrices of ``order``
    (2 order^3 flops each) in this process's BLAS threads, from the best of ``repeats`` calls:
    what the cores can do, which a median on a shared machine understates."""
    rng = np.random.default_rng(0)
    rates = {}
    for name, dtype in (("dgemm", np.float64), ("sgemm", np.float32)):
        a, b = (rng.random((order, order)).astype(dtype) for _ in range(2))
        t = timeit(functools.partial(np.matmul, a, b), repeats)
        rates[f"{name}_gflop_per_s"] = 2.0 * order**3 / (t["min_ms"] / 1e3) / 1e9
    return rates


def gemm_rates(
    threads: int, order: int = GEMM_ORDER, small_order: int = SMALL_ORDER
) -> dict[str, Any]:
    """GEMM rates with ``threads`` BLAS threads, measured in a child process: at ``order`` (the
    steady state, top level of the result) and at ``small_order`` (under ``"small"``)."""
    env = {
        **os.environ,
        "OPENBLAS_NUM_THREADS": str(threads),
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
    }
    cmd = [sys.executable, "-m", "benchmarks.roofline", "--order", str(order)]
    cmd += ["--small-order", str(small_order)]
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(cmd, env=env, cwd=root, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"GEMM rate measurement failed ({cmd}): {done.stderr.strip()}")
    measured: dict[str, Any] = json.loads(done.stdout)
    return {"threads": threads, **measured}


def mahalanobis_flops(n: int, dim: int, classes: int) -> int:
    """Floating-point operations of the min-over-classes Mahalanobis distance of ``n`` vectors
    with an upper-triangular whitening matrix: ``dim (dim + 1) / 2`` multiply-adds per vector
    for ``W x`` and a subtract, multiply and add per class and coordinate."""
    return n * dim * (dim + 1) + 3 * n * classes * dim


def knn_scan_flops(n: int, bank: int, dim: int) -> int:
    """Floating-point operations of the dot products of ``n`` queries with every bank row."""
    return 2 * n * bank * dim


def against_limit(
    flops: int, kernel_ms: float, rate_gflops: float, baseline_ms: float
) -> dict[str, float]:
    """A kernel's rate against the GEMM rate ``rate_gflops``: its GFLOP/s, the share of the GEMM
    rate it reaches, the time floor at that rate, and the largest speed-up over a baseline
    taking ``baseline_ms`` that any implementation doing ``flops`` at that rate could have.
    Pass the kernel's best call (``min_ms``), as the GEMM rate is a best call too."""
    floor_ms = flops / (rate_gflops * 1e9) * 1e3
    return {
        "flops": float(flops),
        "gflop_per_s": flops / (kernel_ms / 1e3) / 1e9,
        "gemm_gflop_per_s": rate_gflops,
        "fraction_of_gemm_rate": floor_ms / kernel_ms,
        "floor_ms_at_gemm_rate": floor_ms,
        "max_speedup_vs_baseline_at_gemm_rate": baseline_ms / floor_ms,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="GEMM rates of this process's BLAS, as JSON")
    parser.add_argument("--order", type=int, default=GEMM_ORDER)
    parser.add_argument("--small-order", type=int, default=SMALL_ORDER)
    args = parser.parse_args()
    steady = measure_gemm_rates(args.order, repeats=15)
    small = measure_gemm_rates(args.small_order, repeats=300)
    print(
        json.dumps({"order": args.order, **steady, "small": {"order": args.small_order, **small}})
    )


if __name__ == "__main__":
    main()
