"""Speed of the scoring kernels against numpy, PyTorch (CPU) and faiss, measured in one run.

Realistic per-frame sizes: N=64 detections, M=5 ensemble members, K=6 classes, D=64, synthetic
banks of 10^4 and 10^5 entries; and the kNN on the shipped model's own bank with the detections
of simulated frames as queries (``package_bank``), where the exact pruned search
(``agent.scoring._knn_pruned``) has real structure to exploit. Every implementation computes the same quantity on the same inputs; the
medians of repeated calls are reported with the 10th/90th percentiles. numba runs with all cores
and with one thread; numpy and PyTorch use their default thread pools (PyTorch is set to the same
core count). The kNN scan is also compared with the memory-bandwidth bound: bank bytes divided by
a STREAM-like copy bandwidth measured in the same run, and the Mahalanobis and kNN kernels with
the arithmetic limit, BLAS GEMM's rate on the same cores (``roofline``). CUDA rows appear only
when numba finds a GPU. Writes ``benchmarks/results/scoring.json``.

Run: ``.venv/bin/python -m benchmarks.bench_scoring [--quick]``
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import faiss
import numba
import numpy as np
import torch
from numba import njit, prange
from numpy.typing import NDArray

from agent.scoring import ScoringStats, cuda_available, make_scorer
from agent.scoring._cpu import CpuBackend
from agent.scoring._model import ScoreModel
from agent.scoring._raw import unit_rows
from benchmarks.machine import describe_machine
from benchmarks.provenance import provenance
from benchmarks.roofline import against_limit, gemm_rates, knn_scan_flops, mahalanobis_flops
from benchmarks.scoring_baselines import (
    numpy_knn,
    numpy_logit_scores,
    numpy_mahalanobis,
    torch_knn,
    torch_logit_scores,
    torch_mahalanobis,
)
from benchmarks.timing import race, timeit

RESULTS = Path(__file__).resolve().parent / "results" / "scoring.json"
NOTES = [
    "Times are medians of calls taken round-robin in blocks (see race()); min_ms is the best call, "
    "a steadier view of what the code can do on a machine whose load swings (load averages "
    "at start and end are in 'machine').",
    "logit_scores and mahalanobis at N=64 are tens of microseconds: the numpy and torch "
    "baselines pay per-call dispatch of ~20 small array operations, which the fused numba kernel "
    "avoids; the logit kernel's own cost is its exponentials, computed by a vectorised exp "
    "(agent/scoring/_exp.py) rather than one libm call per logit.",
    "mahalanobis: numpy uses BLAS dgemm for W x (a fair, strong baseline for that part).",
    "knn: numpy and torch use BLAS sgemm plus partition/topk; faiss IndexFlatIP is exact.",
    "The kNN scan at N=64 queries does 2*64 flops per bank float loaded: it is compute-bound, "
    "so the memory-bandwidth bound (bank bytes / copy bandwidth) is far below the time.",
    "logit_scores and mahalanobis kernels are serial by design (waking a thread pool costs more "
    "than their work at N=64): their numba_cpu and numba_cpu_1thread rows run the same code.",
    "Speed-ups of logit_scores and mahalanobis vs numpy/torch use numba_cpu_1thread (numpy and "
    "torch run these small ops on one core as well); the kNN is a multi-threaded BLAS product in "
    "numpy and torch, so its speed-ups compare numba_cpu on the same cores (the one-thread ratio "
    "is given too); kNN speed-ups vs faiss are given for numba on one thread and on all cores.",
    "numba_cpu (all cores) can lose to numba_cpu_1thread on a shared, oversubscribed machine: a "
    "parallel region waits for its slowest worker thread.",
    "numba_cpu / numba_cpu_1thread kNN rows scan the whole bank; numba_cpu_pruned rows run the "
    "exact pruned search (same answer, fewer rows compared: pruned_knn_scan_share). The "
    "synthetic banks are Gaussian blobs in 64 dimensions, which leave little to prune; "
    "package_bank measures the shipped bank with real queries.",
    "arithmetic_limit (benchmarks/roofline.py): a kernel's floating-point rate against BLAS GEMM "
    "measured in the same run (dgemm on one core for the float64 Mahalanobis kernel, sgemm on "
    "all cores for the float32 kNN scan), both from their best call (what the cores can do). "
    "max_speedup_vs_baseline_at_gemm_rate is numpy's median time "
    "over the time the kernel's own flop count takes at the GEMM rate: no implementation of that "
    "arithmetic beats numpy by more. gemm_rates.*.small is BLAS at this benchmark's own size "
    "(order 64), where per-call and edge costs lower the rate.",
]
N, M, K, D, KNN_K = 64, 5, 6, 64, 10
BANKS = (10_000, 100_000)
#: simulated frames (and their seed, away from the training seeds) whose detections query the
#: shipped model's bank
PACKAGE_FRAMES, PACKAGE_SEED = 10, 2024


# ---- memory bandwidth --------------------------------------------------------------------


@njit(parallel=True, cache=True)
def _parallel_copy(src: NDArray[np.float64], dst: NDArray[np.float64]) -> None:
    for i in prange(src.shape[0]):
        dst[i] = src[i]


def copy_bandwidth(threads: int, repeats: int) -> dict[str, float]:
    """STREAM "copy" bandwidth in GB/s: 2 x bytes (read + write) per copy of a 256 MiB array."""
    src = np.random.default_rng(0).random(32 * 1024 * 1024)
    dst = np.empty_like(src)
    numba.set_num_threads(threads)
    t = timeit(lambda: _parallel_copy(src, dst), repeats, warmup=2)
    return {"threads": threads, "gb_per_s": 2 * src.nbytes / (t["median_ms"] / 1e3) / 1e9, **t}


# ---- the run -------------------------------------------------------------------------------


def make_stats(bank_size: int, rng: np.random.Generator) -> ScoringStats:
    """Clustered synthetic statistics: K class centres, bank drawn around them."""
    centres = rng.normal(scale=3.0, size=(K, D))
    labels = rng.integers(0, K, bank_size)
    train = (centres[labels] + rng.normal(size=(bank_size, D))).astype(np.float32)
    val_labels = rng.integers(0, K, 2000)
    val_emb = (centres[val_labels] + rng.normal(size=(2000, D))).astype(np.float32)
    val_logits = rng.normal(size=(2000, M, K)).astype(np.float32)
    val_logits[np.arange(2000), :, val_labels] += 3.0
    return ScoringStats.fit(train, labels, val_logits, val_emb, k=KNN_K, max_bank=bank_size)


def ratio(a: dict[str, float], b: dict[str, float]) -> float:
    """How many times faster ``b`` is than ``a`` (median over median)."""
    return float(a["median_ms"] / b["median_ms"])


def with_threads(n: int, fn: Callable[[], object]) -> Callable[[], object]:
    """``fn`` run with ``n`` numba threads (the setting is per calling thread and cheap)."""

    def call() -> object:
        numba.set_num_threads(n)
        return fn()

    return call


def competitors(
    stats: ScoringStats,
    logits: NDArray[np.float32],
    emb: NDArray[np.float32],
    unit: NDArray[np.float32],
    cores: int,
) -> tuple[dict[str, dict[str, Callable[[], object]]], CpuBackend]:
    """Per operation, every implementation of it, as zero-argument calls on the same inputs;
    and the pruned-kNN backend they use (it counts the bank rows its queries compared with)."""
    model = stats.score_model()
    cpu = CpuBackend(model, knn="brute")
    pruned = CpuBackend(model, knn="pruned")
    scorer = make_scorer(stats, device="cpu")
    wt, wmt = torch.from_numpy(model.whiten), torch.from_numpy(model.whitened_means)
    t_logits, t_emb, t_unit = (
        torch.from_numpy(logits),
        torch.from_numpy(emb),
        torch.from_numpy(unit),
    )
    t_bank = torch.from_numpy(model.bank)
    index = faiss.IndexFlatIP(model.dim)
    index.add(model.bank)
    ops: dict[str, dict[str, Callable[[], object]]] = {
        "logit_scores": {
            "numba_cpu": with_threads(cores, lambda: cpu.logit_scores(logits)),
            "numba_cpu_1thread": with_threads(1, lambda: cpu.logit_scores(logits)),
            "numpy": lambda: numpy_logit_scores(logits),
            "torch_cpu": lambda: torch_logit_scores(t_logits),
        },
        "mahalanobis": {
            "numba_cpu": with_threads(cores, lambda: cpu.mahalanobis(emb)),
            "numba_cpu_1thread": with_threads(1, lambda: cpu.mahalanobis(emb)),
            "numpy": lambda: numpy_mahalanobis(emb, model),
            "torch_cpu": lambda: torch_mahalanobis(t_emb, wt, wmt),
        },
        "knn": {
            "numba_cpu": with_threads(cores, lambda: cpu.knn_similarities(unit)),
            "numba_cpu_1thread": with_threads(1, lambda: cpu.knn_similarities(unit)),
            "numba_cpu_pruned": with_threads(cores, lambda: pruned.knn_similarities(unit)),
            "numba_cpu_pruned_1thread": with_threads(1, lambda: pruned.knn_similarities(unit)),
            "numpy": lambda: numpy_knn(unit, model.bank, KNN_K),
            "torch_cpu": lambda: torch_knn(t_unit, t_bank, KNN_K),
            "faiss_flat_ip": lambda: index.search(unit, KNN_K),
        },
        "score_end_to_end": {
            "numba_cpu": with_threads(cores, lambda: scorer.score(logits, emb)),
            "numba_cpu_1thread": with_threads(1, lambda: scorer.score(logits, emb)),
        },
    }
    if cuda_available():
        gpu = make_scorer(stats, device="cuda")
        backend = gpu._backend  # kernel-level timings, without validation and calibration
        ops["logit_scores"]["numba_cuda"] = lambda: backend.logit_scores(logits)
        ops["mahalanobis"]["numba_cuda"] = lambda: backend.mahalanobis(emb)
        ops["knn"]["numba_cuda"] = lambda: backend.knn_similarities(unit)
        ops["score_end_to_end"]["numba_cuda"] = lambda: gpu.score(logits, emb)
    return ops, pruned


def bench_bank(
    stats: ScoringStats,
    rng: np.random.Generator,
    repeats: int,
    bandwidth_gbs: float,
    gemm: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """All operations on one bank, with speed-ups, the kNN bandwidth bound and the arithmetic
    limit (``gemm``: BLAS GEMM rates on one core and on all cores, ``roofline.gemm_rates``)."""
    cores = os.cpu_count() or 1
    logits = rng.normal(scale=3.0, size=(N, M, K)).astype(np.float32)
    emb = rng.normal(scale=3.0, size=(N, D)).astype(np.float32)
    unit, _ = unit_rows(emb)
    row: dict[str, Any] = {
        "bank_entries": int(stats.bank.shape[0]),
        "bank_bytes": int(stats.bank.nbytes),
    }
    ops, pruned = competitors(stats, logits, emb, unit, cores)
    with torch.inference_mode():
        for op, fns in ops.items():
            for impl, t in race(fns, repeats).items():
                row.setdefault(impl, {})[op] = t
    row["pruned_knn_scan_share"] = pruned.knn_scan_share
    numba.set_num_threads(cores)
    row["threads"] = {"numba_cpu": cores, "torch_cpu": torch.get_num_threads(), "faiss": cores}
    nb = (
        row["numba_cpu_1thread"]
        if row["numba_cpu_1thread"]["knn"]["median_ms"] < row["numba_cpu"]["knn"]["median_ms"]
        else row["numba_cpu"]
    )
    one_core = ("logit_scores", "mahalanobis")
    numba_1t, numba_all = row["numba_cpu_1thread"], row["numba_cpu"]
    row["speedup"] = (
        {f"numba_vs_numpy_{op}": ratio(row["numpy"][op], numba_1t[op]) for op in one_core}
        | {f"numba_vs_torch_{op}": ratio(row["torch_cpu"][op], numba_1t[op]) for op in one_core}
        | {
            # numpy's and torch's kNN is a multi-threaded BLAS product: compare core for core
            "numba_vs_numpy_knn": ratio(row["numpy"]["knn"], numba_all["knn"]),
            "numba_vs_torch_knn": ratio(row["torch_cpu"]["knn"], numba_all["knn"]),
            "numba_1thread_vs_numpy_knn": ratio(row["numpy"]["knn"], numba_1t["knn"]),
            "numba_1thread_knn_vs_faiss": ratio(row["faiss_flat_ip"]["knn"], numba_1t["knn"]),
            "numba_multi_knn_vs_faiss": ratio(row["faiss_flat_ip"]["knn"], numba_all["knn"]),
            "numba_knn_multi_vs_1thread": ratio(numba_1t["knn"], numba_all["knn"]),
            "numba_pruned_vs_numpy_knn": ratio(row["numpy"]["knn"], row["numba_cpu_pruned"]["knn"]),
            "numba_pruned_vs_full_scan_knn": ratio(
                numba_all["knn"], row["numba_cpu_pruned"]["knn"]
            ),
        }
    )
    bank32_bytes = stats.bank.shape[0] * stats.bank.shape[1] * 4
    bound_ms = bank32_bytes / (bandwidth_gbs * 1e9) * 1e3
    flops = 2.0 * N * stats.bank.shape[0] * stats.bank.shape[1]
    best_min = min(row["numba_cpu"]["knn"]["min_ms"], row["numba_cpu_1thread"]["knn"]["min_ms"])
    row["knn_bandwidth_bound"] = {
        "bank_float32_bytes": bank32_bytes,
        "copy_bandwidth_gb_per_s": bandwidth_gbs,
        "bound_ms": bound_ms,
        "best_numba_ms": nb["knn"]["median_ms"],
        "fraction_of_bound": bound_ms / nb["knn"]["median_ms"],
        "best_numba_gflop_per_s": flops / (nb["knn"]["median_ms"] / 1e3) / 1e9,
        "best_numba_min_ms": best_min,
        "fraction_of_bound_at_min": bound_ms / best_min,
        "best_numba_gflop_per_s_at_min": flops / (best_min / 1e3) / 1e9,
    }
    row["arithmetic_limit"] = {
        # the Mahalanobis kernel is float64 on one core, the kNN scan float32 on all cores
        "mahalanobis_1thread_vs_dgemm_1core": against_limit(
            mahalanobis_flops(N, D, K),
            numba_1t["mahalanobis"]["min_ms"],
            gemm["one_core"]["dgemm_gflop_per_s"],
            row["numpy"]["mahalanobis"]["median_ms"],
        ),
        "knn_full_scan_vs_sgemm_all_cores": against_limit(
            knn_scan_flops(N, stats.bank.shape[0], stats.bank.shape[1]),
            numba_all["knn"]["min_ms"],
            gemm["all_cores"]["sgemm_gflop_per_s"],
            row["numpy"]["knn"]["median_ms"],
        ),
    }
    row["float16_bank_knn_max_abs_error"] = float16_error(stats, rng)
    return row


def package_queries(frames: int, seed: int) -> tuple[ScoringStats, list[NDArray[np.float32]]]:
    """The shipped model's scoring statistics and, per simulated ``urban`` frame, the unit
    embeddings of its detections: real queries against the real bank."""
    from agent.perception.package import ModelPackage, default_package_path
    from agent.perception.pipeline import Perception
    from simulators.drive import simulate_drive
    from simulators.scenario import builtin_scenario

    package_dir = default_package_path()
    perception = Perception(ModelPackage.load(package_dir), providers=["CPUExecutionProvider"])
    drive = simulate_drive(builtin_scenario("urban"), frames, seed)
    queries = [unit_rows(perception(points).embeddings)[0] for points, _ in drive]
    return ScoringStats.load(package_dir), queries


def per_frame(timed: dict[str, float], frames: int) -> dict[str, float]:
    """A timing of one call over ``frames`` frames, as time per frame (repeats kept)."""
    return {k: (v / frames if k.endswith("_ms") else v) for k, v in timed.items()}


def numba_knn_per_frame(
    model: ScoreModel, queries: list[NDArray[np.float32]], cores: int
) -> tuple[dict[str, Callable[[], object]], CpuBackend, CpuBackend]:
    """The full-scan and pruned kNN over every frame's ``queries``, on all cores and on one, as
    zero-argument calls; and the two backends (the pruned one counts the rows it compared)."""
    full, pruned = CpuBackend(model, knn="brute"), CpuBackend(model, knn="pruned")

    def each(fn: Callable[[NDArray[np.float32]], object]) -> Callable[[], object]:
        return lambda: [fn(q) for q in queries]

    fns = {
        "numba_cpu": with_threads(cores, each(full.knn_similarities)),
        "numba_cpu_1thread": with_threads(1, each(full.knn_similarities)),
        "numba_cpu_pruned": with_threads(cores, each(pruned.knn_similarities)),
        "numba_cpu_pruned_1thread": with_threads(1, each(pruned.knn_similarities)),
    }
    return fns, full, pruned


def bench_package_bank(repeats: int, frames: int = PACKAGE_FRAMES) -> dict[str, Any]:
    """kNN per frame on the shipped bank with the detections of simulated frames as queries."""
    cores = os.cpu_count() or 1
    stats, queries = package_queries(frames, PACKAGE_SEED)
    model = stats.score_model()
    fns, full, pruned = numba_knn_per_frame(model, queries, cores)
    index = faiss.IndexFlatIP(model.dim)
    index.add(model.bank)
    t_bank = torch.from_numpy(model.bank)
    t_queries = [torch.from_numpy(q) for q in queries]
    fns |= {
        "numpy": lambda: [numpy_knn(q, model.bank, model.k) for q in queries],
        "torch_cpu": lambda: [torch_knn(q, t_bank, model.k) for q in t_queries],
        "faiss_flat_ip": lambda: [index.search(q, model.k) for q in queries],
    }
    with torch.inference_mode():
        timed = {impl: per_frame(t, frames) for impl, t in race(fns, repeats).items()}
    numba.set_num_threads(cores)
    exact = [full.knn_similarities(q) for q in queries]
    got = [pruned.knn_similarities(q) for q in queries]
    return {
        "bank_entries": int(model.bank.shape[0]),
        "dim": model.dim,
        "k": model.k,
        "frames": frames,
        "queries_per_frame_median": float(np.median([q.shape[0] for q in queries])),
        "pruned_groups": pruned.knn_groups,
        "pruned_knn_scan_share": pruned.knn_scan_share,
        "pruned_max_abs_difference_from_full_scan": float(
            max(np.abs(a - b).max(initial=0.0) for a, b in zip(exact, got, strict=True))
        ),
        "per_frame": timed,
        "speedup": {
            "numba_pruned_vs_numpy": ratio(timed["numpy"], timed["numba_cpu_pruned"]),
            "numba_pruned_vs_full_scan": ratio(timed["numba_cpu"], timed["numba_cpu_pruned"]),
            "numba_pruned_vs_faiss": ratio(timed["faiss_flat_ip"], timed["numba_cpu_pruned"]),
            "numba_pruned_1thread_vs_full_scan_1thread": ratio(
                timed["numba_cpu_1thread"], timed["numba_cpu_pruned_1thread"]
            ),
        },
        "far_queries": far_queries(model, [q.shape[0] for q in queries], repeats),
    }


def far_queries(model: ScoreModel, counts: list[int], repeats: int) -> dict[str, Any]:
    """The pruned search's worst case: frames whose every detection points in a random direction
    (nothing like the bank), against the full scan."""
    cores = os.cpu_count() or 1
    rng = np.random.default_rng(PACKAGE_SEED)
    queries = [unit_rows(rng.normal(size=(n, model.dim)).astype(np.float32))[0] for n in counts]
    fns, _, pruned = numba_knn_per_frame(model, queries, cores)
    timed = {impl: per_frame(t, len(counts)) for impl, t in race(fns, repeats).items()}
    numba.set_num_threads(cores)
    return {
        "pruned_knn_scan_share": pruned.knn_scan_share,
        "per_frame": timed,
        "numba_pruned_vs_full_scan": ratio(timed["numba_cpu"], timed["numba_cpu_pruned"]),
        "numba_pruned_1thread_vs_full_scan_1thread": ratio(
            timed["numba_cpu_1thread"], timed["numba_cpu_pruned_1thread"]
        ),
    }


def run(quick: bool) -> dict[str, Any]:
    """Every bank size; copy bandwidth first, single- and multi-threaded."""
    cores = os.cpu_count() or 1
    torch.set_num_threads(cores)
    faiss.omp_set_num_threads(cores)
    rng = np.random.default_rng(0)
    bandwidth = [copy_bandwidth(1, 5 if quick else 15), copy_bandwidth(cores, 5 if quick else 15)]
    results: dict[str, Any] = {
        "sizes": {"N": N, "M": M, "K": K, "D": D, "k": KNN_K},
        "copy_bandwidth": bandwidth,
        "notes": NOTES,
        "banks": {},
    }
    gemm = {"one_core": gemm_rates(1), "all_cores": gemm_rates(cores)}
    results["gemm_rates"] = gemm
    best_bw = max(b["gb_per_s"] for b in bandwidth)
    for bank_size in BANKS:
        repeats = (15 if quick else 200) if bank_size <= 10_000 else (5 if quick else 40)
        stats = make_stats(bank_size, rng)
        results["banks"][str(bank_size)] = bench_bank(stats, rng, repeats, best_bw, gemm)
    results["package_bank"] = bench_package_bank(5 if quick else 60)
    return results


def float16_error(stats: ScoringStats, rng: np.random.Generator) -> float:
    """Max |knn distance| change when the bank is stored as float16 (1000 random queries)."""
    s16 = ScoringStats(**{**stats.__dict__, "bank": stats.bank.astype(np.float16)})
    emb = rng.normal(scale=3.0, size=(1000, D)).astype(np.float32)
    logits = np.zeros((1000, 1, K), np.float32)
    a = make_scorer(stats, "cpu").raw(logits, emb)["knn"]
    b = make_scorer(s16, "cpu").raw(logits, emb)["knn"]
    return float(np.abs(a - b).max())


def machine() -> dict[str, Any]:
    """Where the numbers were taken."""
    return describe_machine(
        numba=numba.__version__,
        numba_threading_layer=str(getattr(numba.config, "THREADING_LAYER", "unknown")),
        torch=torch.__version__,
        faiss=faiss.__version__,
        cuda_gpu=cuda_available(),
        note="shared development machine: other processes ran alongside; compare rows of one run",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="few repeats (a smoke run)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    results = {"machine": machine(), "quick": args.quick, **run(args.quick)}
    results["machine"]["load_average_1_5_15_min_at_end"] = list(os.getloadavg())
    if not results["machine"]["cuda_gpu"]:
        results["cuda"] = "no CUDA GPU on this machine: CUDA rows not measured"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    results["provenance"] = provenance(["benchmarks.bench_scoring"], vars(args))
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    for size, row in results["banks"].items():
        print(f"bank {size}: " + ", ".join(f"{k}={v:.2f}" for k, v in row["speedup"].items()))
        print(f"  knn bandwidth bound: {row['knn_bandwidth_bound']}")
        for name, limit in row["arithmetic_limit"].items():
            print(
                f"  {name}: {limit['gflop_per_s']:.1f} GFLOP/s = "
                f"{limit['fraction_of_gemm_rate']:.0%} of GEMM; at most "
                f"{limit['max_speedup_vs_baseline_at_gemm_rate']:.1f}x numpy at the GEMM rate"
            )
        for impl in (
            "numba_cpu",
            "numba_cpu_1thread",
            "numpy",
            "torch_cpu",
            "faiss_flat_ip",
            "numba_cuda",
        ):
            if impl in row:
                print(
                    f"  {impl}: "
                    + ", ".join(f"{op}={t['median_ms']:.4f}ms" for op, t in row[impl].items())
                )
    pkg = results["package_bank"]
    print(
        f"package bank {pkg['bank_entries']}x{pkg['dim']}: pruned scans "
        f"{pkg['pruned_knn_scan_share']:.1%}; "
        + ", ".join(f"{k}={v:.2f}" for k, v in pkg["speedup"].items())
    )
    far = pkg["far_queries"]
    print(
        f"  random-direction queries: pruned scans {far['pruned_knn_scan_share']:.1%}, "
        f"{far['numba_pruned_vs_full_scan']:.2f}x the full scan"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
