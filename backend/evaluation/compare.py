"""Champion against candidate on every slice of the edge-case suite, in one run.

Both packages run through the vehicle's own runtime (``agent.perception.pipeline.Perception``) on
the same suite frames, read once and checked against the manifest's digests; the figures and
their paired bootstrap intervals come from ``slice_metrics`` (rules in ``frame_scores``).

Classes come from each package's metadata: a candidate may know more classes than the champion
(a rare class promoted). The evaluated classes (AP) are the union of both; matching uses the BEV
IoU at the first threshold of ``run.THRESHOLDS`` per class, ``frame_scores.DEFAULT_IOU_THRESHOLD``
(0.25) for a class not in it.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from agent.perception.package import ModelPackage
from agent.perception.pipeline import Perception
from backend.errors import EvaluationError
from backend.evaluation.algo import FrameEval
from backend.evaluation.frame_scores import (
    DEFAULT_IOU_THRESHOLD,
    object_table,
    score_model,
    threshold_of,
)
from backend.evaluation.run import THRESHOLDS
from backend.evaluation.slice_metrics import MetricRow, SliceData, slice_rows
from backend.evaluation.slices import ALL, FrameFacts, focus_mask
from backend.evaluation.suite import Suite, read_frames
from core.classes import BACKGROUND
from core.formats.atomic import atomic_write_bytes
from core.geometry import bev_iou_matrix

log = logging.getLogger(__name__)

#: bootstrap replicates and confidence level of every interval
N_BOOT = 1000
LEVEL = 0.95


@dataclass(frozen=True)
class Comparison:
    """Champion vs candidate on one suite: a row per (slice, metric)."""

    suite_name: str
    suite_version: str
    champion_version: str
    candidate_version: str
    champion_classes: tuple[str, ...]
    candidate_classes: tuple[str, ...]
    thresholds: dict[str, float]
    frames: int
    n_boot: int
    level: float
    seed: int
    rows: tuple[MetricRow, ...]
    seconds: dict[str, float] = field(default_factory=dict)
    created: str = ""

    def row(self, slice_name: str, metric: str) -> MetricRow:
        """The row of ``metric`` on ``slice_name`` (EvaluationError naming both if absent)."""
        for r in self.rows:
            if r.slice == slice_name and r.metric == metric:
                return r
        raise EvaluationError(f"no figure {metric!r} on slice {slice_name!r} in this comparison")

    def slices(self) -> list[str]:
        return list(dict.fromkeys(r.slice for r in self.rows))

    def to_json(self) -> dict[str, Any]:
        return {
            "suite": {"name": self.suite_name, "version": self.suite_version},
            "champion": {"version": self.champion_version, "classes": list(self.champion_classes)},
            "candidate": {
                "version": self.candidate_version,
                "classes": list(self.candidate_classes),
            },
            "thresholds_bev_iou": self.thresholds,
            "default_threshold_bev_iou": DEFAULT_IOU_THRESHOLD,
            "frames": self.frames,
            "bootstrap": {"replicates": self.n_boot, "level": self.level, "seed": self.seed},
            "seconds": self.seconds,
            "created": self.created,
            "rows": [r.to_json() for r in self.rows],
        }

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the JSON report atomically (NaN written as null)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.to_json(), indent=1, allow_nan=False)
        atomic_write_bytes(target, (text + "\n").encode(), durable=False)
        return target


def foreground_classes(package: ModelPackage) -> tuple[str, ...]:
    """The classes a package names, background left out."""
    return tuple(c for c in package.class_names if c != BACKGROUND)


def compare_frames(
    suite: Suite,
    facts: Sequence[FrameFacts],
    champion: Sequence[FrameEval],
    candidate: Sequence[FrameEval],
    champion_classes: Sequence[str],
    candidate_classes: Sequence[str],
    *,
    n_boot: int = N_BOOT,
    level: float = LEVEL,
    seed: int = 0,
) -> list[MetricRow]:
    """The rows of every slice from both models' frames (same order as ``suite.frames``)."""
    if not len(facts) == len(champion) == len(candidate) == len(suite.frames):
        raise EvaluationError(
            f"suite has {len(suite.frames)} frames but got {len(facts)} facts, "
            f"{len(champion)} champion and {len(candidate)} candidate frames"
        )
    evaluated = tuple(dict.fromkeys([*champion_classes, *candidate_classes]))
    spec = suite.spec
    objects = object_table(champion, spec.max_range)
    scored = [
        score_model(frames, known, evaluated, _primary(), bev_iou_matrix, spec.max_range)
        for frames, known in ((champion, champion_classes), (candidate, candidate_classes))
    ]
    rows: list[MetricRow] = []
    for name in spec.names():
        members = np.array(
            [i for i, f in enumerate(suite.frames) if name in f.slices], dtype=np.int64
        )
        focus = np.zeros(objects.frame.size, dtype=bool)
        for f_i in members:
            sel = np.flatnonzero(objects.frame == f_i)
            mask = focus_mask(spec, name, facts[f_i])
            focus[sel] = mask[objects.index_in_frame[sel]]
        rows += slice_rows(
            SliceData(name, members, focus),
            objects,
            len(suite.frames),
            scored[0],
            scored[1],
            evaluated=evaluated,
            rare_classes=spec.rare_classes,
            bands=spec.distance_bands,
            band_figures=name == ALL,
            n_boot=n_boot,
            level=level,
            seed=seed,
        )
    return rows


def _primary() -> dict[str, float]:
    return {c: t[0] for c, t in THRESHOLDS.items()}


def _frame_eval(
    perception: Perception, points: npt.NDArray[np.float32], gt: FrameEval
) -> FrameEval:
    det = perception(points)
    fg = det.foreground()
    return FrameEval(
        det.boxes[fg].astype(np.float64),
        tuple(det.class_names[i] for i in fg),
        det.scores[fg].astype(np.float64),
        gt.gt_boxes,
        gt.gt_classes,
    )


def compare_packages(
    champion_dir: str | os.PathLike[str],
    candidate_dir: str | os.PathLike[str],
    suite: Suite,
    *,
    n_boot: int = N_BOOT,
    level: float = LEVEL,
    seed: int = 0,
    providers: Sequence[str] | None = None,
) -> Comparison:
    """Run both packages on every suite frame (each frame read once, digest-checked) and
    compare them on every slice."""
    champ_pkg, cand_pkg = ModelPackage.load(champion_dir), ModelPackage.load(candidate_dir)
    champ, cand = (Perception(p, providers=providers) for p in (champ_pkg, cand_pkg))
    facts: list[FrameFacts] = []
    champ_frames: list[FrameEval] = []
    cand_frames: list[FrameEval] = []
    t0 = time.perf_counter()
    spent = {"read": 0.0, "champion": 0.0, "candidate": 0.0}
    for frame, points, labels in read_frames(suite):
        t_read = time.perf_counter()
        facts.append(suite.facts(frame, labels))
        empty = np.zeros((0, 7))
        gt = FrameEval(empty, (), np.zeros(0), labels.boxes(), tuple(labels.class_names()))
        t1 = time.perf_counter()
        champ_frames.append(_frame_eval(champ, points, gt))
        t2 = time.perf_counter()
        cand_frames.append(_frame_eval(cand, points, gt))
        t3 = time.perf_counter()
        spent["read"] += t1 - t_read
        spent["champion"] += t2 - t1
        spent["candidate"] += t3 - t2
    t_run = time.perf_counter()
    rows = compare_frames(
        suite,
        facts,
        champ_frames,
        cand_frames,
        foreground_classes(champ_pkg),
        foreground_classes(cand_pkg),
        n_boot=n_boot,
        level=level,
        seed=seed,
    )
    spent["metrics"] = time.perf_counter() - t_run
    spent["total"] = time.perf_counter() - t0
    evaluated = dict.fromkeys([*foreground_classes(champ_pkg), *foreground_classes(cand_pkg)])
    log.info(
        "compared %s with %s on %d suite frames in %.1f s",
        cand_pkg.version,
        champ_pkg.version,
        len(suite.frames),
        spent["total"],
    )
    return Comparison(
        suite_name=suite.name,
        suite_version=suite.version,
        champion_version=champ_pkg.version,
        candidate_version=cand_pkg.version,
        champion_classes=foreground_classes(champ_pkg),
        candidate_classes=foreground_classes(cand_pkg),
        thresholds={c: threshold_of(_primary(), c) for c in evaluated},
        frames=len(suite.frames),
        n_boot=n_boot,
        level=level,
        seed=seed,
        rows=tuple(rows),
        seconds={k: round(v, 3) for k, v in spent.items()},
        created=datetime.now(UTC).isoformat(timespec="seconds"),
    )
