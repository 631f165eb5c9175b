"""LiDAR simulator speed per sensor preset, with a breakdown and a raw Open3D baseline.

Run: ``.venv/bin/python -m benchmarks.bench_simulator [--frames 30] [--seed 0]``.
Writes ``benchmarks/results/simulator.json``.

For each preset (hdl64, vlp32, os128) on the ``urban`` scenario this drives ``--frames``
frames after two warm-up frames and reports medians of seconds per frame: ``total`` (one
``DriveSimulator.frame()`` call, traffic step included, plus ``point_labels()``, the per-point
ground truth that ``write_drive`` stores with every frame), ``scene`` (placing the actors' meshes
and building the per-frame Open3D scene and its BVH), ``cast`` (casting every ray against the static and
per-frame scenes, nearest hit, normals and materials), ``post`` (noise, dropout, intensity,
weather, per-object point counts and boxes, the class of every point). ``static_build_s`` is the cost of building the
static street once (chunk meshes plus the Open3D BVH) and ``static_amortized_s`` that cost
spread over the frames it serves at the scenario's ego speed.

Baseline, measured in the same run on the same scenes and rays, interleaved frame by frame with
the simulation so both see the same machine load: ``raw_cast_rays`` is Open3D's
``RaycastingScene.cast_rays`` alone on a prepared ray tensor, for the static and the per-frame
scene (the floor the ``cast`` step cannot go below); ``simulator_cast_same_scene_s`` is the
simulator's cast (ray tensor, both scenes, nearest-hit merge) on those same scenes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import open3d as o3d

from benchmarks.machine import describe_machine
from benchmarks.provenance import provenance
from simulators.drive import STATIC_REBUILD_EVERY, DriveSimulator
from simulators.meshes import rotate_about_z
from simulators.raycast import MeshScene, rays_tensor
from simulators.scenario import builtin_scenario
from simulators.sensors import PRESETS
from simulators.world import street_mesh

log = logging.getLogger(__name__)

RESULTS = Path(__file__).resolve().parent / "results" / "simulator.json"


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_preset(preset: str, frames: int, seed: int, repeats: int) -> dict[str, Any]:
    scenario = dataclasses.replace(builtin_scenario("urban"), sensor=preset)
    sim = DriveSimulator(scenario, seed)
    for _ in range(2):
        sim.frame()
    totals, scene, cast, post, points = [], [], [], [], []
    raw_static, raw_dynamic, wrapped = [], [], []
    for _ in range(frames):
        start = time.perf_counter()
        pts, _ = sim.frame()
        sim.point_labels()
        totals.append(time.perf_counter() - start)
        scene.append(sim.last_timing.scene)
        cast.append(sim.last_timing.cast)
        post.append(sim.last_timing.post)
        points.append(pts.shape[0])
        # baseline, interleaved with the frames so that both see the same machine load: the
        # raw cast_rays on this frame's scenes and rays, and the simulator's cast on the same
        frame_scene = sim.build_scene()
        dirs = rotate_about_z(sim.directions, frame_scene.yaw)
        tensor = rays_tensor(frame_scene.origin.astype(np.float32), dirs)
        static_scene = frame_scene.static.raycasting_scene
        dynamic_scene = frame_scene.dynamic.raycasting_scene
        raw_static.append(median_seconds(partial(static_scene.cast_rays, tensor), repeats))
        raw_dynamic.append(median_seconds(partial(dynamic_scene.cast_rays, tensor), repeats))
        wrapped.append(median_seconds(partial(frame_scene.cast, dirs), repeats))

    # the static street, built from scratch as the drive does every STATIC_REBUILD_EVERY metres
    def build_static() -> None:
        x = sim.traffic.ego.x
        mesh, _ = street_mesh(seed, x - 130.0, x + 130.0 + STATIC_REBUILD_EVERY)
        MeshScene(mesh).commit()

    static_build = median_seconds(build_static, max(3, repeats))
    frames_per_build = STATIC_REBUILD_EVERY / max(scenario.ego_speed / sim.sensor.rate_hz, 1e-9)
    raw_total = statistics.median(rs + rd for rs, rd in zip(raw_static, raw_dynamic, strict=True))
    return {
        "beams": sim.sensor.beams,
        "columns": sim.sensor.columns,
        "rays": int(sim.directions.shape[0]),
        "points_median": int(statistics.median(points)),
        "frames": frames,
        "seconds_per_frame": {
            "total": statistics.median(totals),
            "scene": statistics.median(scene),
            "cast": statistics.median(cast),
            "post": statistics.median(post),
            "static_build_s": static_build,
            "static_amortized_s": static_build / frames_per_build,
        },
        "frames_per_second": 1.0 / statistics.median(totals),
        "baseline": {
            "raw_cast_rays_static_s": statistics.median(raw_static),
            "raw_cast_rays_dynamic_s": statistics.median(raw_dynamic),
            "raw_cast_rays_total_s": raw_total,
            "simulator_cast_same_scene_s": statistics.median(wrapped),
            "cast_overhead_vs_raw": statistics.median(wrapped) / raw_total,
            "static_triangles": frame_scene.static.mesh.num_triangles,
            "dynamic_triangles": frame_scene.dynamic.mesh.num_triangles,
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5, help="raw-cast repeats per frame")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--presets", nargs="*", default=sorted(PRESETS))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    presets = {
        name: bench_preset(name, args.frames, args.seed, args.repeats) for name in args.presets
    }
    result = {
        "benchmark": "LiDAR scene simulator (simulators.drive)",
        "machine": describe_machine(open3d=o3d.__version__),
        "scenario": "urban",
        "seed": args.seed,
        "statistic": "median",
        "units": "seconds per frame unless named otherwise",
        "presets": presets,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result["provenance"] = provenance(["benchmarks.bench_simulator"], vars(args))
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for name, case in presets.items():
        t = case["seconds_per_frame"]
        b = case["baseline"]
        log.info(
            "%-6s %6d pts  total %.3f s (scene %.3f, cast %.3f, post %.3f; static build %.3f s "
            "once, %.4f s/frame)  raw cast_rays %.3f s",
            name, case["points_median"], t["total"], t["scene"], t["cast"], t["post"],
            t["static_build_s"], t["static_amortized_s"], b["raw_cast_rays_total_s"],
        )  # fmt: skip
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
