"""Evaluation adapter: runs the vehicle's ``Perception`` over labelled datasets, scores it with
``algo`` and writes the JSON report. Loading and timing live here; the maths in ``algo``."""

from __future__ import annotations

import json
import logging
import os
import platform
import statistics
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from agent.perception.package import ModelPackage
from agent.perception.pipeline import STAGES, Perception
from backend.errors import EvaluationError
from backend.evaluation.algo import (
    DISTANCE_BANDS,
    RECALL_POINTS,
    FrameEval,
    evaluate,
    json_safe,
)
from backend.paths import portable_path
from core.classes import COMMON_CLASSES
from core.formats.dataset import Dataset
from core.geometry import bev_iou_matrix, iou3d_matrix

log = logging.getLogger(__name__)

#: IoU thresholds per class (the first is the primary one the floors are set on)
THRESHOLDS: dict[str, tuple[float, ...]] = {
    "car": (0.5, 0.7),
    "truck": (0.5, 0.7),
    "bus": (0.5, 0.7),
    "pedestrian": (0.25, 0.5),
    "cyclist": (0.25, 0.5),
}
IOU_FUNCTIONS = {"bev": bev_iou_matrix, "3d": iou3d_matrix}
MAX_RANGE = 70.0


def collect(
    perception: Perception, roots: Sequence[str | os.PathLike[str]], progress: bool = True
) -> tuple[list[FrameEval], dict[str, list[float]]]:
    """Run ``perception`` on every labelled frame; returns the frames and per-stage timings (ms)."""
    frames: list[FrameEval] = []
    timings: dict[str, list[float]] = {s: [] for s in STAGES}
    for root in roots:
        ds = Dataset(root)
        for index in tqdm(ds.indices, desc=f"eval {Path(root).name}", disable=not progress):
            if not ds.has_labels(index):
                continue
            labels = ds.labels(index)
            det = perception(ds.points(index))
            fg = det.foreground()
            frames.append(
                FrameEval(
                    det.boxes[fg].astype(np.float64),
                    tuple(det.class_names[i] for i in fg),
                    det.scores[fg].astype(np.float64),
                    labels.boxes(),
                    tuple(labels.class_names()),
                )
            )
            for stage in STAGES:
                timings[stage].append(perception.timings_ms[stage])
    if not frames:
        raise EvaluationError(f"{[str(r) for r in roots]}: no labelled frames to evaluate")
    return frames, timings


def summary_table(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per class: AP at each (IoU kind, threshold) and recall per distance band at the
    primary BEV threshold."""
    rows = []
    for cls, kinds in result.items():
        row: dict[str, Any] = {"class": cls}
        primary = f"{THRESHOLDS[cls][0]:g}"
        for kind, by_t in kinds.items():
            for t, r in by_t.items():
                row[f"ap_{kind}_{t}"] = r["ap"]
        bev = kinds["bev"][primary]
        row["num_gt"] = bev["num_gt"]
        for lo, hi in DISTANCE_BANDS:
            row[f"recall_{lo:g}_{hi:g}m"] = bev[f"recall_{lo:g}_{hi:g}m"]
        rows.append(row)
    return rows


def evaluate_package(
    package_dir: str | os.PathLike[str],
    data_dirs: Sequence[str | os.PathLike[str]],
    out: Path | None = None,
    *,
    providers: Sequence[str] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate the package on ``data_dirs``; writes the report to ``out`` when given."""
    package = ModelPackage.load(package_dir)
    perception = Perception(package, providers=providers)
    frames, timings = collect(perception, data_dirs, progress)
    thresholds = {c: THRESHOLDS[c] for c in COMMON_CLASSES if c in THRESHOLDS}
    result = evaluate(frames, thresholds, IOU_FUNCTIONS, MAX_RANGE)
    report: dict[str, Any] = {
        "package": portable_path(package_dir),
        "model_version": package.version,
        "datasets": [portable_path(d) for d in data_dirs],
        "frames": len(frames),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "ap_method": f"interpolated AP at {RECALL_POINTS} recall points (KITTI R40)",
        "max_range_m": MAX_RANGE,
        "thresholds": {c: list(t) for c, t in thresholds.items()},
        "table": summary_table(result),
        "per_class": result,
        "timing_ms_median": {s: statistics.median(v) for s, v in timings.items()},
        "machine": {"platform": platform.platform(), "processor": platform.processor()},
        "providers": perception.network.providers,
    }
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(json.dumps(json_safe(report), indent=2, allow_nan=False) + "\n")
        tmp.replace(out)
    return report
