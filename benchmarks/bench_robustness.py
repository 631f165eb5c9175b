"""Robustness of the shipped model to real-sensor artefacts: AP per class and distance band.

Run: ``.venv/bin/python -m benchmarks.bench_robustness [--frames 40] [--seed 501]
[--package DIR] [--presets hdl64 ...]``. Writes ``benchmarks/results/robustness.json``.

For every sensor preset of the simulator (``simulators.sensors.PRESETS``) a held-out drive of
the ``urban`` scenario (seed ``--seed``; the shipped model trains on 111-150 and tests on 311-315) is
simulated under each condition: ``clean`` (the baseline of the same run: same traffic, same
seed), every artefact of ``simulators.effects`` alone, and ``realistic`` (the preset's
published defaults, all together). The artefacts a preset's defaults leave off (a wet road,
a mounting tilt) are switched on alone at ``ALONE_DEFAULTS``. Intensity on a 0-255 scale is
divided by the scale the sensor declares before perception, as the readers do.

Per preset and condition: the model's AP (KITTI R40, BEV IoU at each class's primary
threshold, ``backend.evaluation``) per class over 0-70 m and per distance band (ground truth
and detections filtered to the band by their centre), and the ratio to the clean AP.
Goal (issue 12): under ``realistic`` no class with at least ``MIN_GT`` boxes loses more than
10 % of its clean AP on any preset.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from agent.perception.package import ModelPackage, default_package_path
from agent.perception.pipeline import Perception
from backend.evaluation.algo import DISTANCE_BANDS, FrameEval, evaluate, json_safe
from backend.evaluation.run import MAX_RANGE, THRESHOLDS
from backend.paths import portable_path
from benchmarks.machine import describe_machine
from benchmarks.provenance import provenance
from core.geometry import bev_iou_matrix
from simulators.drive import DriveSimulator
from simulators.effects import CLEAN, EFFECT_FIELDS, SensorEffects
from simulators.scenario import builtin_scenario
from simulators.sensors import PRESETS

log = logging.getLogger(__name__)
RESULTS = Path(__file__).resolve().parent / "results" / "robustness.json"
#: the most a class may lose of its clean AP under the realistic defaults
GOAL_LOSS = 0.10
#: fewer ground-truth boxes than this: the class's AP is reported but not judged
MIN_GT = 15
#: settings of the artefacts that a preset's realistic defaults leave off, when switched on alone
ALONE_DEFAULTS = SensorEffects(wet_road=0.5, pitch_deg=1.5, roll_deg=0.5)


def conditions(preset: str) -> dict[str, SensorEffects]:
    """``clean``, each artefact alone and ``realistic`` (all of the preset's defaults)."""
    realistic = PRESETS[preset].realistic
    out = {"clean": CLEAN}
    for name in EFFECT_FIELDS:
        alone = realistic.only(name)
        if alone == CLEAN:
            alone = ALONE_DEFAULTS.only(name)
        if alone != CLEAN:
            out[name] = alone
    out["realistic"] = realistic
    return out


def _band(f: FrameEval, lo: float, hi: float) -> FrameEval:
    """The frame with ground truth and detections outside ``[lo, hi)`` metres left out."""
    d = np.hypot(f.det_boxes[:, 0], f.det_boxes[:, 1])
    g = np.hypot(f.gt_boxes[:, 0], f.gt_boxes[:, 1])
    dk, gk = (d >= lo) & (d < hi), (g >= lo) & (g < hi)
    return FrameEval(
        f.det_boxes[dk],
        tuple(c for c, k in zip(f.det_classes, dk, strict=True) if k),
        f.det_scores[dk],
        f.gt_boxes[gk],
        tuple(c for c, k in zip(f.gt_classes, gk, strict=True) if k),
    )


def _ap(frames: list[FrameEval]) -> dict[str, dict[str, float | int]]:
    primary = {c: (t[0],) for c, t in THRESHOLDS.items()}
    result = evaluate(frames, primary, {"bev": bev_iou_matrix}, MAX_RANGE)
    return {
        c: {
            "ap": result[c]["bev"][f"{primary[c][0]:g}"]["ap"],
            "num_gt": result[c]["bev"][f"{primary[c][0]:g}"]["num_gt"],
        }
        for c in result
    }


def run_condition(
    perception: Perception, preset: str, effects: SensorEffects, frames: int, seed: int
) -> dict[str, Any]:
    """AP per class, overall and per band, of ``frames`` frames of one preset and condition."""
    scenario = replace(builtin_scenario("urban"), sensor=preset)
    sim = DriveSimulator(scenario, seed, effects=effects)
    evals: list[FrameEval] = []
    points_total = 0
    for _ in range(frames):
        points, labels = sim.frame()
        points_total += points.shape[0]
        if effects.intensity_scale != 1.0:  # the declared scale, as a reader normalises it
            points = points.copy()
            points[:, 3] /= np.float32(effects.intensity_scale)
        det = perception(points)
        fg = det.foreground()
        evals.append(
            FrameEval(
                det.boxes[fg].astype(np.float64),
                tuple(det.class_names[i] for i in fg),
                det.scores[fg].astype(np.float64),
                labels.boxes(),
                tuple(labels.class_names()),
            )
        )
    bands = {f"{lo:g}_{hi:g}m": _ap([_band(f, lo, hi) for f in evals]) for lo, hi in DISTANCE_BANDS}
    return {"points_per_frame": points_total / frames, "all": _ap(evals), "bands": bands}


def _ratios(result: dict[str, Any], clean: dict[str, Any]) -> dict[str, float]:
    out = {}
    for cls, r in result["all"].items():
        base = clean["all"][cls]["ap"]
        out[cls] = r["ap"] / base if base and not math.isnan(base) else float("nan")
    return out


def run(package_dir: Path, presets: list[str], frames: int, seed: int) -> dict[str, Any]:
    package = ModelPackage.load(package_dir)
    perception = Perception(package, providers=["CPUExecutionProvider"])
    out: dict[str, Any] = {}
    goal_failures: list[str] = []
    started = time.perf_counter()
    for preset in presets:
        per: dict[str, Any] = {}
        for name, effects in conditions(preset).items():
            t0 = time.perf_counter()
            per[name] = run_condition(perception, preset, effects, frames, seed)
            per[name]["seconds"] = time.perf_counter() - t0
            log.info(
                "%s %s: %s",
                preset,
                name,
                {c: round(v["ap"], 3) for c, v in per[name]["all"].items()},
            )
        for name in per:
            per[name]["ap_ratio_to_clean"] = _ratios(per[name], per["clean"])
        for cls, ratio in per["realistic"]["ap_ratio_to_clean"].items():
            judged = per["clean"]["all"][cls]["num_gt"] >= MIN_GT
            if judged and not math.isnan(ratio) and ratio < 1.0 - GOAL_LOSS:
                goal_failures.append(f"{preset}/{cls}: {ratio:.2f} of clean AP")
        out[preset] = per
    return {
        "benchmark": "robustness of the model to real-sensor artefacts (bench_robustness)",
        "machine": describe_machine(),
        "package": {"path": portable_path(package_dir), "version": package.version},
        "scenario": "urban",
        "seed": seed,
        "frames_per_condition": frames,
        "ap_method": "KITTI R40 interpolated AP, BEV IoU at each class's primary threshold",
        "thresholds": {c: t[0] for c, t in THRESHOLDS.items()},
        "max_range_m": MAX_RANGE,
        "distance_bands_m": [list(b) for b in DISTANCE_BANDS],
        "intensity": "0-255 sensors divided by their declared scale before perception",
        "alone_defaults": {
            "wet_road": ALONE_DEFAULTS.wet_road,
            "pitch_deg": ALONE_DEFAULTS.pitch_deg,
            "roll_deg": ALONE_DEFAULTS.roll_deg,
        },
        "goal": f"under realistic, no class with >= {MIN_GT} boxes loses more than {GOAL_LOSS:.0%} of its clean AP",
        "goal_failures": goal_failures,
        "goal_summary": "; ".join(goal_failures) if goal_failures else "none",
        "meets_goal": not goal_failures,
        "seconds": time.perf_counter() - started,
        "presets": out,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--seed", type=int, default=501)
    parser.add_argument("--package", type=Path, default=default_package_path())
    parser.add_argument("--presets", nargs="+", default=sorted(PRESETS), choices=sorted(PRESETS))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    result = run(args.package, args.presets, args.frames, args.seed)
    params = {
        "frames": args.frames,
        "seed": args.seed,
        "package": portable_path(args.package),
        "presets": args.presets,
    }
    result["provenance"] = provenance(["benchmarks.bench_robustness"], params)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(json_safe(result), indent=2, allow_nan=False) + "\n")
    print(json.dumps({"meets_goal": result["meets_goal"], "failures": result["goal_failures"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
