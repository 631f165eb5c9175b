"""Perception pipeline speed on simulated 64-beam frames, one core, stage by stage.

Run: ``.venv/bin/python -m benchmarks.bench_perception [--frames 20] [--repeats 3]
[--package DIR] [--provider cpu|cuda]``. Writes ``benchmarks/results/perception.json``, or
``perception_cuda.json`` with ``--provider cuda`` (the network on the GPU, the rest of the
pipeline still on one CPU core; refused where the session would fall back to the CPU).

Frames: the ``urban`` scenario of the LiDAR simulator (HDL-64-like, ~129k points). The pipeline
runs on ONE core: ``NUMBA_NUM_THREADS=1``, ``OMP_NUM_THREADS=1`` (set below, before numba and
Open3D load) and ONNX Runtime with one intra-op thread on the chosen provider. Per stage (ground,
cluster, box_fit, sampling, network, post) and in total: the median over all runs of all frames.

Baselines measured in the same run on the same ground-removed points, for the clustering stage:
``open3d_dbscan`` (Open3D's DBSCAN, eps = the cell reach in metres, min_points 1: the usual
off-the-shelf choice) and ``python_flood_fill`` (the same cell-grid connected components written
as a plain Python breadth-first search over a dict of cells).
"""

from __future__ import annotations

import os

from benchmarks.machine import describe_machine
from benchmarks.provenance import provenance

# one core: these must be set before numba / OpenMP (Open3D) are loaded
os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import json
import logging
import math
import statistics
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from agent.perception.network import CPU, CUDA
from agent.perception.package import ModelPackage, default_package_path
from agent.perception.pipeline import STAGES, Perception
from backend.paths import portable_path

log = logging.getLogger(__name__)
RESULTS = Path(__file__).resolve().parent / "results" / "perception.json"
GOAL_MS = 50.0
#: ``--provider`` choices: the ONNX Runtime execution providers to ask for, best first
PROVIDERS = {"cpu": [CPU], "cuda": [CUDA, CPU]}


class ProviderUnavailableError(Exception):
    """The requested execution provider did not start here."""


def make_perception(package: ModelPackage, provider: str) -> Perception:
    """Perception on ``provider`` ("cpu" or "cuda"), one intra-op thread; refuses to time a
    silent fallback: CUDA requested but the session runs on the CPU is an error."""
    perception = Perception(package, providers=PROVIDERS[provider], intra_op_threads=1)
    running = perception.network.providers[0]
    if running != PROVIDERS[provider][0]:
        raise ProviderUnavailableError(
            f"--provider {provider}: the network runs on {running}, not "
            f"{PROVIDERS[provider][0]} (no GPU or no CUDA build of ONNX Runtime here)"
        )
    return perception


def simulated_frames(count: int, seed: int) -> list[npt.NDArray[np.float32]]:
    from simulators.drive import simulate_drive
    from simulators.scenario import builtin_scenario

    return [p for p, _ in simulate_drive(builtin_scenario("urban"), count, seed)]


def python_flood_fill(xy: npt.NDArray[np.float32], cell: float, reach: int) -> int:
    """Connected components of occupied cells with a dict and a deque: the naive baseline."""
    cells: dict[tuple[int, int], int] = {}
    for x, y in xy.tolist():
        cells[(math.floor(x / cell), math.floor(y / cell))] = -1
    count = 0
    for start in cells:
        if cells[start] != -1:
            continue
        cells[start] = count
        queue = deque([start])
        while queue:
            cx, cy = queue.popleft()
            for dx in range(-reach, reach + 1):
                for dy in range(-reach, reach + 1):
                    nb = (cx + dx, cy + dy)
                    if cells.get(nb) == -1:
                        cells[nb] = count
                        queue.append(nb)
        count += 1
    return count


def open3d_dbscan(xyz: npt.NDArray[np.float32], eps: float) -> int:
    import open3d as o3d

    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(xyz.astype(np.float64)))
    labels = np.asarray(cloud.cluster_dbscan(eps=eps, min_points=1))
    return int(labels.max() + 1) if labels.size else 0


def run(
    frames: int,
    repeats: int,
    package_dir: Path,
    seed: int,
    baseline_frames: int,
    provider: str = "cpu",
) -> dict[str, Any]:
    package = ModelPackage.load(package_dir)
    perception = make_perception(package, provider)
    clouds = simulated_frames(frames, seed)
    for cloud in clouds[:2]:  # compile and warm the caches
        perception(cloud)
    per_stage: dict[str, list[float]] = {s: [] for s in (*STAGES, "total")}
    detections: list[int] = []
    candidates: list[int] = []
    for _ in range(repeats):
        for cloud in clouds:
            t0 = time.perf_counter()
            det = perception(cloud)
            total = (time.perf_counter() - t0) * 1e3
            for s in STAGES:
                per_stage[s].append(perception.timings_ms[s])
            per_stage["total"].append(total)
            detections.append(int((det.class_ids != 0).sum()))
            candidates.append(len(det))
    # clustering baselines on the exact points the pipeline clusters
    params = package.params
    base: dict[str, list[float]] = {
        "pipeline_cluster": [],
        "python_flood_fill": [],
        "open3d_dbscan": [],
    }
    for cloud in clouds[:baseline_frames]:  # the baselines are slow: a few frames suffice
        perception(cloud)
        pre = perception.preprocess
        base["pipeline_cluster"].append(pre.timings_ms["cluster"])
        above = _object_points(perception, cloud)
        t0 = time.perf_counter()
        python_flood_fill(above[:, :2], params.cluster_cell, params.cluster_reach)
        base["python_flood_fill"].append((time.perf_counter() - t0) * 1e3)
        t0 = time.perf_counter()
        open3d_dbscan(above[:, :3], params.cluster_cell * params.cluster_reach)
        base["open3d_dbscan"].append((time.perf_counter() - t0) * 1e3)
    med = {k: statistics.median(v) for k, v in per_stage.items()}
    base_med = {k: statistics.median(v) for k, v in base.items()}
    return {
        "benchmark": "perception pipeline (agent.perception.pipeline.Perception)",
        "machine": describe_machine(),
        "threads": {"numba": os.environ["NUMBA_NUM_THREADS"], "onnxruntime_intra_op": 1},
        "providers": perception.network.providers,
        "package": {"path": portable_path(package_dir), "version": package.version},
        "scenario": "urban",
        "seed": seed,
        "frames": frames,
        "repeats": repeats,
        "points_median": int(statistics.median(c.shape[0] for c in clouds)),
        "candidates_median": statistics.median(candidates),
        "detections_median": statistics.median(detections),
        "statistic": "median over frames x repeats",
        "ms_per_frame": med,
        "goal_ms": GOAL_MS,
        "meets_goal": med["total"] <= GOAL_MS,
        "clustering_baselines_frames": min(baseline_frames, len(clouds)),
        "clustering_baselines_ms": base_med,
        "clustering_speedup_vs": {
            k: base_med[k] / base_med["pipeline_cluster"]
            for k in ("python_flood_fill", "open3d_dbscan")
        },
    }


def _object_points(
    perception: Perception, cloud: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """The non-ground points the clustering stage saw on ``cloud`` (the last frame run)."""
    from agent.perception.preprocess import height_above_ground

    p = perception.package.params
    heights = np.empty_like(perception.preprocess.ground_heights)
    above = height_above_ground(cloud, heights, p)
    with np.errstate(invalid="ignore"):
        keep = (above > p.ground_threshold) & (above < p.max_height)
    return np.ascontiguousarray(cloud[keep])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=900)
    parser.add_argument("--baseline-frames", type=int, default=3)
    parser.add_argument("--package", type=Path, default=default_package_path())
    parser.add_argument(
        "--provider", choices=sorted(PROVIDERS), default="cpu", help="ONNX Runtime provider"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="default: results/perception.json (perception_cuda.json with --provider cuda)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    if args.out is None:
        args.out = RESULTS if args.provider == "cpu" else RESULTS.with_name("perception_cuda.json")
    try:
        result = run(
            args.frames, args.repeats, args.package, args.seed, args.baseline_frames, args.provider
        )
    except ProviderUnavailableError as exc:
        parser.error(str(exc))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result["provenance"] = provenance(["benchmarks.bench_perception"], vars(args))
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        json.dumps(
            {
                "ms_per_frame": result["ms_per_frame"],
                "baselines": result["clustering_baselines_ms"],
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
