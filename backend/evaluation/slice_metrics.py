"""Every figure of one suite slice for champion and candidate, with paired bootstrap intervals.

Pure numpy over ``frame_scores``. A slice is its frames (indices into the suite) and its focus
objects (``slices.focus_mask``). Per slice, one set of bootstrap weights over its frames (seeded
from the run's seed and the slice name, so a slice's intervals do not depend on which other
slices exist) scores both models; the difference is candidate - champion per replicate.

Metrics (``name``: meaning; higher is better unless marked):

- ``recall``: recall of the slice's focus objects (``frame_scores`` rules)
- ``recall:<class>``: recall of the objects of one class in the slice (rare classes included:
  their recall by the known/unknown rule); ``recall:rare``: of every rare-class object
- ``recall:<class>:<lo>-<hi>m``: of one class in one distance band (``all`` slice only)
- ``ap:<class>``: interpolated AP (R40, BEV, primary threshold) of each evaluated class;
  ``ap:<class>:<lo>-<hi>m`` per distance band (``all`` slice only)
- ``fp_per_frame``: false positives per frame (lower is better)
- ``ece``: expected calibration error of detection scores, 10 bins (lower is better)

A figure undefined for both models (no object of that class in the slice) is not reported.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from backend.evaluation.bootstrap import (
    Estimate,
    average_precision,
    bootstrap_weights,
    calibration_error,
    estimate,
    ratio,
)
from backend.evaluation.frame_scores import ModelScores, ObjectTable

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]
#: metrics where a smaller value is better
LOWER_IS_BETTER = frozenset({"fp_per_frame", "ece"})


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` is better (every metric except fp and ECE)."""
    return metric not in LOWER_IS_BETTER


@dataclass(frozen=True)
class MetricRow:
    """One figure of one slice: each model's estimate and the paired difference
    (candidate - champion); ``frames`` in the slice, ``support`` = objects, boxes or
    detections behind the figure (the larger of the two models' where it differs)."""

    slice: str
    metric: str
    champion: Estimate
    candidate: Estimate
    difference: Estimate
    frames: int
    support: int

    def to_json(self) -> dict[str, object]:
        return {
            "slice": self.slice,
            "metric": self.metric,
            "champion": self.champion.to_json(),
            "candidate": self.candidate.to_json(),
            "difference": self.difference.to_json(),
            "frames": self.frames,
            "support": self.support,
        }


Figure = Callable[[ModelScores, F64], F64]


@dataclass(frozen=True)
class SliceData:
    """One slice: its name, frames (suite indices, sorted) and focus mask over the objects."""

    name: str
    frames: I64
    focus: B


def _per_frame(frame_local: I64, values: F64, n: int) -> F64:
    return np.bincount(frame_local, weights=values, minlength=n).astype(np.float64)


class _Slice:
    """Index maps of one slice: suite frame -> position in the slice."""

    def __init__(self, data: SliceData, n_frames: int, objects: ObjectTable) -> None:
        self.n = int(data.frames.size)
        self.local = np.full(n_frames, -1, dtype=np.int64)
        self.local[data.frames] = np.arange(self.n)
        self.obj_in = self.local[objects.frame] >= 0 if objects.frame.size else np.zeros(0, bool)
        self.objects = objects

    def recall(self, mask: B) -> tuple[Figure, int]:
        sel = mask & self.obj_in
        pos = self.local[self.objects.frame[sel]]
        total = _per_frame(pos, np.ones(pos.size), self.n)

        def figure(m: ModelScores, w: F64) -> F64:
            hits = _per_frame(pos, m.object_hit[sel].astype(np.float64), self.n)
            return ratio(w, hits, total)

        return figure, int(sel.sum())

    def ap(self, cls: str, band: tuple[float, float] | None) -> tuple[Figure, int]:
        gt = (self.objects.class_array == cls) & self.obj_in
        if band is not None:
            gt &= (self.objects.range_m >= band[0]) & (self.objects.range_m < band[1])
        gt_count = _per_frame(self.local[self.objects.frame[gt]], np.ones(int(gt.sum())), self.n)

        def figure(m: ModelScores, w: F64) -> F64:
            d = m.detections[cls]
            pos = self.local[d.frame]
            keep = pos >= 0
            tp = d.tp.copy()
            if band is not None:  # a match counts in its box's band, a miss in its own
                lo, hi = band
                rng = np.where(d.tp, d.matched_range_m, d.range_m)
                keep &= (rng >= lo) & (rng < hi)
            return average_precision(w[:, pos[keep]], d.score[keep], tp[keep], w @ gt_count)

        return figure, int(gt.sum())

    def fp_per_frame(self) -> Figure:
        def figure(m: ModelScores, w: F64) -> F64:
            inside = np.flatnonzero(self.local >= 0)
            per = np.zeros(self.n)
            per[self.local[inside]] = m.fp_per_frame[inside]
            return ratio(w, per, np.ones(self.n))

        return figure

    def ece(self) -> Figure:
        def figure(m: ModelScores, w: F64) -> F64:
            pos = self.local[m.fg_frame]
            keep = pos >= 0
            return calibration_error(w[:, pos[keep]], m.fg_score[keep], m.fg_correct[keep])

        return figure


def slice_rows(
    data: SliceData,
    objects: ObjectTable,
    n_frames: int,
    champion: ModelScores,
    candidate: ModelScores,
    *,
    evaluated: Sequence[str],
    rare_classes: Sequence[str],
    bands: Sequence[tuple[float, float]],
    band_figures: bool,
    n_boot: int,
    level: float,
    seed: int,
) -> list[MetricRow]:
    """Every figure of the slice ``data`` (module docstring), champion vs candidate."""
    if data.frames.size == 0:
        return []
    s = _Slice(data, n_frames, objects)
    rng = np.random.default_rng([seed, zlib.crc32(data.name.encode())])
    weights = np.vstack([np.ones((1, s.n)), bootstrap_weights(s.n, n_boot, rng).astype(np.float64)])
    figures: list[tuple[str, Figure, int]] = []
    figures.append(("recall", *s.recall(data.focus)))
    classes = objects.class_array
    present = sorted(set(classes[s.obj_in].tolist())) if classes.size else []
    for cls in present:
        figures.append((f"recall:{cls}", *s.recall(classes == cls)))
        if band_figures:
            for lo, hi in bands:
                in_band = (classes == cls) & (objects.range_m >= lo) & (objects.range_m < hi)
                figures.append((f"recall:{cls}:{lo:g}-{hi:g}m", *s.recall(in_band)))
    rare = np.isin(classes, list(rare_classes)) if classes.size else np.zeros(0, bool)
    if (rare & s.obj_in).any():
        figures.append(("recall:rare", *s.recall(rare)))
    for cls in evaluated:
        figures.append((f"ap:{cls}", *s.ap(cls, None)))
        if band_figures:
            for lo, hi in bands:
                figures.append((f"ap:{cls}:{lo:g}-{hi:g}m", *s.ap(cls, (lo, hi))))
    figures.append(("fp_per_frame", s.fp_per_frame(), s.n))
    det_support = int(
        max((s.local[champion.fg_frame] >= 0).sum(), (s.local[candidate.fg_frame] >= 0).sum())
    )
    figures.append(("ece", s.ece(), det_support))
    rows = []
    for metric, figure, support in figures:
        a, b = figure(champion, weights), figure(candidate, weights)
        if math.isnan(a[0]) and math.isnan(b[0]):
            continue
        rows.append(
            MetricRow(
                data.name,
                metric,
                estimate(float(a[0]), a[1:], level),
                estimate(float(b[0]), b[1:], level),
                estimate(float(b[0] - a[0]), b[1:] - a[1:], level),
                s.n,
                support,
            )
        )
    return rows
