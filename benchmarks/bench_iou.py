"""Rotated IoU and the QA matcher against shapely, measured in one run.

Frames are realistic annotation frames: ``--boxes`` objects (default 50; cars, trucks,
pedestrians, cyclists with their real sizes) spread over a 100 m x 100 m LiDAR frame, labelled by
a simulated annotator (5-10 cm centre noise, 3 % size noise, 0.03 rad heading noise, a missed
object in 20, a box in 25 with the wrong class, a few invented boxes), so each frame is about
``--boxes`` x ``--boxes`` pairs, few of which overlap, as in real QA.

Cases, each timed on the same ``--frames`` frames per call:

- ``bev_matrix``: ``core.geometry.bev_iou_matrix`` per frame;
- ``iou3d_matrix``: ``core.geometry.iou3d_matrix`` per frame;
- ``matcher``: ``backend.annotation.qa.match_frame`` per frame (3D IoU, both Hungarian passes,
  the per-pair metrics);
- ``dense_bev_matrix``: one 400 x 400 BEV matrix of boxes packed in 40 m x 40 m (NMS-like: many
  pairs overlap and are clipped).

Baselines in the same run, computing the same numbers: ``shapely_all_pairs`` (shapely 2's
vectorised ``intersection`` over every pair of polygons), ``shapely_strtree`` (an STRtree query
finds the pairs whose bounds meet, only those are intersected: the strongest shapely variant), and
for the matcher the same two passes with the IoU matrix and pair metrics from shapely
(:func:`shapely_match`). The speedup is against the faster baseline; the goal is at least 20x.
The maximum IoU difference from shapely on the benchmark's own inputs is recorded too.

Throughput is in box pairs per second (candidate boxes x reference boxes, over all frames,
divided by the median call time). Writes ``benchmarks/results/iou.json``.

Run: ``.venv/bin/python -m benchmarks.bench_iou [--repeats 30] [--quick]``
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numba
import numpy as np
import numpy.typing as npt
import scipy
import shapely

from backend.annotation.qa import MatchSettings, match_frame
from backend.annotation.qa.matching import assign
from benchmarks.machine import describe_machine
from benchmarks.provenance import provenance
from benchmarks.timing import race
from core.geometry import bev_iou_matrix, box_corners_bev, iou3d_matrix

log = logging.getLogger(__name__)

RESULTS = Path(__file__).resolve().parent / "results" / "iou.json"
F64 = npt.NDArray[np.float64]
GOAL_SPEEDUP = 20.0

#: (class, length, width, height in metres, share of objects)
OBJECTS: tuple[tuple[str, float, float, float, float], ...] = (
    ("car", 4.5, 1.9, 1.6, 0.55),
    ("truck", 8.5, 2.5, 3.2, 0.1),
    ("pedestrian", 0.7, 0.7, 1.8, 0.25),
    ("cyclist", 1.8, 0.7, 1.7, 0.1),
)


@dataclass(frozen=True)
class Frame:
    """One QA frame: the annotator's boxes and classes against the reference's."""

    candidate: F64
    candidate_classes: list[str]
    reference: F64
    reference_classes: list[str]


def make_frame(rng: np.random.Generator, n_objects: int, extent_m: float = 100.0) -> Frame:
    """A reference of ``n_objects`` boxes in a square of ``extent_m`` metres and a noisy
    annotator's labelling of it (see the module docstring)."""
    kinds = rng.choice(len(OBJECTS), n_objects, p=[o[4] for o in OBJECTS])
    sizes = np.array([OBJECTS[k][1:4] for k in kinds]) * rng.uniform(0.9, 1.1, (n_objects, 1))
    xy = rng.uniform(-extent_m / 2, extent_m / 2, (n_objects, 2))
    z = sizes[:, 2] / 2 - 1.7  # standing on the ground 1.7 m below the sensor
    ref = np.column_stack([xy, z, sizes, rng.uniform(-np.pi, np.pi, n_objects)])
    ref_classes = [OBJECTS[k][0] for k in kinds]
    keep = rng.random(n_objects) >= 0.05
    cand = ref[keep].copy()
    cand[:, :2] += rng.normal(0, rng.uniform(0.05, 0.1), (cand.shape[0], 2))
    cand[:, 3:6] *= np.exp(rng.normal(0, 0.03, (cand.shape[0], 3)))
    cand[:, 6] += rng.normal(0, 0.03, cand.shape[0])
    names = [OBJECTS[k][0] for k in range(len(OBJECTS))]
    cand_classes = [
        names[int(rng.integers(0, len(names)))] if rng.random() < 0.04 else c
        for c, k in zip(ref_classes, keep.tolist(), strict=True)
        if k
    ]
    extra = n_objects - cand.shape[0]  # invented boxes keep the two sets the same size
    if extra:
        fake = ref[rng.integers(0, n_objects, extra)].copy()
        fake[:, :2] = rng.uniform(-extent_m / 2, extent_m / 2, (extra, 2))
        cand = np.vstack([cand, fake])
        cand_classes += [names[int(rng.integers(0, len(names)))] for _ in range(extra)]
    return Frame(cand, cand_classes, ref, ref_classes)


def _z_overlap(a: F64, b: F64) -> F64:
    top = np.minimum(a[:, 2] + a[:, 5] / 2, b[:, 2] + b[:, 5] / 2)
    bottom = np.maximum(a[:, 2] - a[:, 5] / 2, b[:, 2] - b[:, 5] / 2)
    out: F64 = np.maximum(top - bottom, 0.0)
    return out


def shapely_pair_iou(a: F64, b: F64, three_d: bool) -> F64:
    """IoU of aligned pairs ``a[i]``, ``b[i]`` ``(K, 7)`` by shapely polygon intersection."""
    polygons = shapely.intersection(
        shapely.polygons(box_corners_bev(a)), shapely.polygons(box_corners_bev(b))
    )
    inter: F64 = np.asarray(shapely.area(polygons), dtype=np.float64)
    area_a, area_b = a[:, 3] * a[:, 4], b[:, 3] * b[:, 4]
    if three_d:
        inter = inter * _z_overlap(a, b)
        area_a, area_b = area_a * a[:, 5], area_b * b[:, 5]
    union = area_a + area_b - inter
    out: F64 = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    return out


def shapely_iou_matrix(a: F64, b: F64, three_d: bool, prune: bool) -> F64:
    """IoU matrix ``(N, M)`` by shapely: every pair (``prune=False``), or only the pairs an
    STRtree finds with meeting bounds (``prune=True``)."""
    out = np.zeros((a.shape[0], b.shape[0]))
    if a.shape[0] == 0 or b.shape[0] == 0:
        return out
    if prune:
        tree = shapely.STRtree(shapely.polygons(box_corners_bev(b)))
        rows, cols = tree.query(shapely.polygons(box_corners_bev(a)))
    else:
        rows, cols = (
            g.ravel()
            for g in np.meshgrid(np.arange(a.shape[0]), np.arange(b.shape[0]), indexing="ij")
        )
    out[rows, cols] = shapely_pair_iou(a[rows], b[cols], three_d)
    return out


def shapely_match(
    frame: Frame, settings: MatchSettings
) -> tuple[list[tuple[int, int]], list[tuple[int, int]], F64, F64]:
    """``match_frame``'s two passes, step for step the same numpy and scipy, with shapely for
    the IoU matrix (STRtree-pruned) and for the paired boxes' 3D and BEV IoU: matched pairs,
    class-mismatch pairs, and the 3D and BEV IoU of all pairs (matched first)."""
    a, b = frame.candidate, frame.reference
    n, m = a.shape[0], b.shape[0]
    iou = shapely_iou_matrix(a, b, three_d=True, prune=True)
    codes: dict[str, int] = {}
    ca = np.fromiter(
        (codes.setdefault(c, len(codes)) for c in frame.candidate_classes), np.int64, n
    )
    cb = np.fromiter(
        (codes.setdefault(c, len(codes)) for c in frame.reference_classes), np.int64, m
    )
    class_threshold = np.fromiter((settings.threshold(c) for c in codes), np.float64, len(codes))
    same = ca[:, None] == cb[None, :]
    rows, cols = assign(np.where(same & (iou >= class_threshold[cb][None, :]), iou, 0.0))
    free_a = np.ones(n, dtype=bool)
    free_a[rows] = False
    free_b = np.ones(m, dtype=bool)
    free_b[cols] = False
    left_a, left_b = np.flatnonzero(free_a), np.flatnonzero(free_b)
    sub = iou[np.ix_(left_a, left_b)]
    eligible = ~same[np.ix_(left_a, left_b)] & (sub >= settings.mismatch_threshold)
    r2, c2 = assign(np.where(eligible, sub, 0.0))
    ci = np.concatenate([rows, left_a[r2]])
    ri = np.concatenate([cols, left_b[c2]])
    return (
        list(zip(rows.tolist(), cols.tolist(), strict=True)),
        list(zip(left_a[r2].tolist(), left_b[c2].tolist(), strict=True)),
        shapely_pair_iou(a[ci], b[ri], three_d=True),
        shapely_pair_iou(a[ci], b[ri], three_d=False),
    )


Timed = dict[str, Callable[[], object]]


def _per_frame(fn: Callable[[Frame], object], frames: Sequence[Frame]) -> Callable[[], object]:
    def call() -> None:
        for f in frames:
            fn(f)

    return call


def _matrix_fns(three_d: bool, frames: Sequence[Frame]) -> Timed:
    """The IoU matrix of every frame, by core.geometry and by both shapely variants."""
    ours = iou3d_matrix if three_d else bev_iou_matrix

    def core(f: Frame) -> object:
        return ours(f.candidate, f.reference)

    def all_pairs(f: Frame) -> object:
        return shapely_iou_matrix(f.candidate, f.reference, three_d, prune=False)

    def strtree(f: Frame) -> object:
        return shapely_iou_matrix(f.candidate, f.reference, three_d, prune=True)

    return {
        "core_geometry": _per_frame(core, frames),
        "shapely_all_pairs": _per_frame(all_pairs, frames),
        "shapely_strtree": _per_frame(strtree, frames),
    }


def _case(pairs: int, fns: Timed, repeats: int, ours: str) -> dict[str, Any]:
    timed = race(fns, repeats, block=8)
    rows = {name: {**t, "pairs_per_s": pairs / (t["median_ms"] / 1e3)} for name, t in timed.items()}
    baselines = {n: r for n, r in rows.items() if n != ours}
    best = min(baselines, key=lambda n: baselines[n]["median_ms"])
    speedup = baselines[best]["median_ms"] / rows[ours]["median_ms"]
    return {
        "pairs_per_call": pairs,
        "implementations": rows,
        "fastest_baseline": best,
        "speedup_vs_fastest_baseline": speedup,
        "speedup_vs_each": {
            n: r["median_ms"] / rows[ours]["median_ms"] for n, r in baselines.items()
        },
        "meets_goal": speedup >= GOAL_SPEEDUP,
    }


def run(n_frames: int, n_boxes: int, repeats: int, seed: int) -> dict[str, Any]:
    """Every case of the module docstring; returns the results' ``cases`` and checks."""
    rng = np.random.default_rng(seed)
    frames = [make_frame(rng, n_boxes) for _ in range(n_frames)]
    pairs = sum(f.candidate.shape[0] * f.reference.shape[0] for f in frames)
    settings = MatchSettings()

    # agreement with shapely on these very inputs, before timing anything
    max_diff = {"bev": 0.0, "3d": 0.0}
    overlapping = 0
    for f in frames:
        for kind, ours, three_d in (("bev", bev_iou_matrix, False), ("3d", iou3d_matrix, True)):
            mine = ours(f.candidate, f.reference)
            ref = shapely_iou_matrix(f.candidate, f.reference, three_d, prune=False)
            max_diff[kind] = max(max_diff[kind], float(np.abs(mine - ref).max()))
            overlapping += int((ref > 0).sum()) if kind == "bev" else 0
    same_matches = True
    for f in frames:
        m = match_frame(
            f.candidate, f.candidate_classes, f.reference, f.reference_classes, settings
        )
        matched, mismatched, _, _ = shapely_match(f, settings)
        ours_matched = list(
            zip(m.matched.candidate.tolist(), m.matched.reference.tolist(), strict=True)
        )
        ours_mis = list(
            zip(m.mismatched.candidate.tolist(), m.mismatched.reference.tolist(), strict=True)
        )
        same_matches &= sorted(ours_matched) == sorted(matched) and sorted(ours_mis) == sorted(
            mismatched
        )

    cases: dict[str, Any] = {}
    for name, three_d in (("bev_matrix", False), ("iou3d_matrix", True)):
        cases[name] = _case(pairs, _matrix_fns(three_d, frames), repeats, "core_geometry")
        log.info("%s: %.1fx the fastest shapely", name, cases[name]["speedup_vs_fastest_baseline"])

    def ours_match(f: Frame) -> object:
        return match_frame(
            f.candidate, f.candidate_classes, f.reference, f.reference_classes, settings
        )

    def their_match(f: Frame) -> object:
        return shapely_match(f, settings)

    fns: Timed = {
        "match_frame": _per_frame(ours_match, frames),
        "shapely_match": _per_frame(their_match, frames),
    }
    cases["matcher"] = _case(pairs, fns, repeats, "match_frame")
    log.info("matcher: %.1fx shapely", cases["matcher"]["speedup_vs_fastest_baseline"])

    dense = make_frame(rng, 400, extent_m=40.0)
    dense_pairs = dense.candidate.shape[0] * dense.reference.shape[0]
    fns = _matrix_fns(False, [dense])
    cases["dense_bev_matrix"] = _case(dense_pairs, fns, max(repeats // 3, 3), "core_geometry")
    dense_overlap = float((bev_iou_matrix(dense.candidate, dense.reference) > 0).mean())
    log.info("dense_bev_matrix: %.1fx", cases["dense_bev_matrix"]["speedup_vs_fastest_baseline"])
    return {
        "frames": {
            "count": n_frames,
            "boxes_per_frame": n_boxes,
            "pairs_per_call": pairs,
            "overlapping_pair_share": overlapping / pairs,
            "dense_overlapping_pair_share": dense_overlap,
        },
        "checks": {
            "max_abs_iou_difference_from_shapely": max_diff,
            "matcher_pairs_identical_to_shapely_matcher": same_matches,
        },
        "cases": cases,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--boxes", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="few repeats (a smoke run)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    repeats = 5 if args.quick else args.repeats
    result: dict[str, Any] = {
        "benchmark": "rotated IoU (core.geometry) and the QA matcher (backend.annotation.qa)",
        "machine": describe_machine(
            numba=numba.__version__,
            shapely=shapely.__version__,
            geos=shapely.geos_version_string,
            scipy=scipy.__version__,
            note="shared development machine: other processes ran alongside; compare rows of one run",
        ),
        "quick": args.quick,
        "repeats": repeats,
        "seed": args.seed,
        "statistic": "median of calls taken round-robin in blocks (benchmarks.timing.race)",
        "units": {
            "*_ms": "milliseconds per call (all frames)",
            "pairs_per_s": "box pairs per second",
        },
        "goal": f"at least {GOAL_SPEEDUP:.0f}x the fastest shapely baseline",
        **run(args.frames, args.boxes, repeats, args.seed),
    }
    result["machine"]["load_average_1_5_15_min_at_end"] = [round(v, 2) for v in os.getloadavg()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result["provenance"] = provenance(["benchmarks.bench_iou"], vars(args))
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
