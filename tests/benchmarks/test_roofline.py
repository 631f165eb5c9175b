"""The arithmetic-limit helpers of the benchmarks: flop counts and the GEMM rate measurement."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.roofline import against_limit, gemm_rates, knn_scan_flops, mahalanobis_flops


def test_mahalanobis_flops_counts_the_triangular_product_and_the_class_distances() -> None:
    dim, classes = 5, 3
    # W x with W upper-triangular: row j has dim - j nonzeros, one multiply and one add each
    triangular = sum(2 * (dim - j) for j in range(dim))
    assert mahalanobis_flops(1, dim, classes) == triangular + 3 * classes * dim
    assert mahalanobis_flops(7, dim, classes) == 7 * mahalanobis_flops(1, dim, classes)


def test_knn_scan_flops_is_one_multiply_add_per_query_bank_coordinate() -> None:
    assert knn_scan_flops(4, 10, 8) == 2 * 4 * 10 * 8


def test_against_limit_bounds_the_speedup_by_the_time_at_the_gemm_rate() -> None:
    # 2e9 flops at 100 GFLOP/s take at least 20 ms; a 40 ms kernel runs at half that rate
    limit = against_limit(2_000_000_000, kernel_ms=40.0, rate_gflops=100.0, baseline_ms=100.0)
    assert limit["gflop_per_s"] == pytest.approx(50.0)
    assert limit["floor_ms_at_gemm_rate"] == pytest.approx(20.0)
    assert limit["fraction_of_gemm_rate"] == pytest.approx(0.5)
    assert limit["max_speedup_vs_baseline_at_gemm_rate"] == pytest.approx(5.0)


def test_gemm_rates_are_measured_in_a_child_with_the_requested_threads() -> None:
    rates = gemm_rates(1, order=96, small_order=8)
    assert rates["threads"] == 1 and rates["order"] == 96 and rates["small"]["order"] == 8
    for measured in (rates, rates["small"]):
        for name in ("dgemm_gflop_per_s", "sgemm_gflop_per_s"):
            assert np.isfinite(measured[name]) and measured[name] > 0.0
