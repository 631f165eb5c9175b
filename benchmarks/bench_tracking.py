"""The world-frame tracker against ground truth (CLEAR MOT), on the event benchmark's drives.

Every perception candidate of a drive (cached by ``bench_events``: fitted boxes in the sensor
frame, classes, the source's pose) goes through ``agent.tracking.WorldTracker``; confirmed tracks
are the hypotheses. Ground truth: the labelled objects (ordinary and rare) with at least
``--min-points`` points within ``--max-range`` metres. Per frame, hypotheses and objects are
matched by Hungarian assignment on BEV centre distance (at most ``--match-m`` metres), keeping a
previous frame's pairing when it is still within reach (CLEAR MOT). Reported: MOTA = 1 - (misses
+ false positives + identity switches) / objects, recall, identity switches per object track,
the false positives (candidates on clutter the labels do not hold: buildings, poles,
vegetation; they are real candidates, so MOTA over all of them is low by construction), MOTA with
hypotheses on no labelled object ignored, and for rare tracks alone the share followed by a
single track id over their well-observed frames. The tracker's time per frame is the median of
its ``update`` calls (one core).

Writes ``benchmarks/results/tracking.json``. Run after ``bench_events`` (it needs its caches):
``.venv/bin/python -m benchmarks.bench_tracking``.
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from agent.tracking import WorldTracker
from benchmarks.bench_events import CACHE, SEED0
from benchmarks.bench_selection import json_safe, machine
from benchmarks.provenance import provenance
from benchmarks.selection_drives import DriveScores
from core.classes import is_rare
from core.formats.dataset import Dataset

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "tracking.json"


def evaluate_drive(
    scores: DriveScores, data: Dataset, args: argparse.Namespace
) -> tuple[dict[str, float], list[float]]:
    """CLEAR MOT counts of one drive and the tracker's per-frame times (ms)."""
    tracker = WorldTracker()
    counts = dict.fromkeys(("objects", "misses", "fp", "fp_near", "switches", "matches"), 0.0)
    last: dict[int, int] = {}  # object track -> hypothesis id it was last matched to
    rare_ids: dict[int, set[int]] = {}
    times: list[float] = []
    for f, index in enumerate(data.indices[: scores.frames]):
        lo, hi = int(scores.offsets[f]), int(scores.offsets[f + 1])
        boxes = scores.boxes[lo:hi]
        started = time.perf_counter()
        out = tracker.update(boxes[:, :2], scores.class_ids[lo:hi], tuple(scores.pose[f]), 0.1 * f)
        times.append((time.perf_counter() - started) * 1e3)
        hyp = np.flatnonzero(out.confirmed)
        labels = data.labels(index)
        objs = [
            o
            for o in labels.objects
            if o.num_points >= args.min_points and np.hypot(o.box[0], o.box[1]) <= args.max_range
        ]
        counts["objects"] += len(objs)
        if not objs:
            counts["fp"] += hyp.size
            continue
        gt = np.array([o.box[:2] for o in objs])
        dist = np.hypot(
            *(gt[:, None, :] - boxes[hyp, None, :2].transpose(1, 0, 2)).transpose(2, 0, 1)
        )
        cost = np.where(dist <= args.match_m, dist, 1e6)
        # CLEAR MOT: keep last frame's pairs still within reach
        for i, o in enumerate(objs):
            prev = last.get(o.track_id)
            js = (
                np.flatnonzero(out.track_id[hyp] == prev)
                if prev is not None
                else np.zeros(0, dtype=np.int64)
            )
            if len(js) and dist[i, js[0]] <= args.match_m:
                cost[i, :] = 1e6
                cost[:, js[0]] = 1e6
                cost[i, js[0]] = -1.0
        rows, cols = (
            linear_sum_assignment(cost) if hyp.size else (np.zeros(0, int), np.zeros(0, int))
        )
        ok = cost[rows, cols] < 1e5
        matched_gt = set(rows[ok].tolist())
        matched_h = set(cols[ok].tolist())
        counts["matches"] += int(ok.sum())
        counts["misses"] += len(objs) - len(matched_gt)
        unmatched = [j for j in range(hyp.size) if j not in matched_h]
        counts["fp"] += len(unmatched)
        near = dist[:, unmatched].min(axis=0) <= 2 * args.match_m if unmatched else np.zeros(0)
        counts["fp_near"] += int(np.sum(near))
        for i, j in zip(rows[ok], cols[ok], strict=True):
            o = objs[int(i)]
            hid = int(out.track_id[hyp[j]])
            if o.track_id in last and last[o.track_id] != hid:
                counts["switches"] += 1
            last[o.track_id] = hid
            if is_rare(o.class_name):
                rare_ids.setdefault(o.track_id, set()).add(hid)
    counts["rare_tracks"] = len(rare_ids)
    counts["rare_single_id"] = sum(len(v) == 1 for v in rare_ids.values())
    counts["object_tracks"] = len(last)
    return counts, times


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--enriched-frames", type=int, default=400)
    parser.add_argument("--enriched-rate", type=float, default=0.04)
    parser.add_argument("--min-points", type=int, default=10)
    parser.add_argument("--max-range", type=float, default=50.0)
    parser.add_argument("--match-m", type=float, default=1.0)
    parser.add_argument("--cache", default=str(CACHE))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    cache = Path(args.cache)
    started_cpu = time.process_time()
    total: dict[str, float] = {}
    times: list[float] = []
    drives = []
    for i in range(args.seeds):
        pattern = f"urban_rare-sim*-rate{args.enriched_rate:g}-seed{SEED0 + i}-frames{args.enriched_frames}"
        score_files = sorted((cache / "scores").glob(f"*/{pattern}-v3.npz"))
        drive_dirs = [
            p for p in sorted((cache / "drives").glob(pattern)) if (p / "meta.json").exists()
        ]
        if not score_files or not drive_dirs:
            parser.error(f"no cached drive {pattern}: run benchmarks.bench_events first")
        counts, t = evaluate_drive(DriveScores.load(score_files[-1]), Dataset(drive_dirs[-1]), args)
        for k, v in counts.items():
            total[k] = total.get(k, 0.0) + v
        times += t
        drives.append(drive_dirs[-1].name)
    n = total["objects"] or 1.0
    report: dict[str, Any] = {
        "benchmark": "world-frame tracking, CLEAR MOT (benchmarks.bench_tracking)",
        "machine": machine(),
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "cache")},
        "drives": drives,
        "counts": total,
        "mota": 1.0 - (total["misses"] + total["fp"] + total["switches"]) / n,
        "mota_ignoring_candidates_on_unlabelled_clutter": 1.0
        - (total["misses"] + total["fp_near"] + total["switches"]) / n,
        "recall": total["matches"] / n,
        "switches_per_object_track": total["switches"] / max(total["object_tracks"], 1.0),
        "rare_tracks_followed_by_one_id": total["rare_single_id"] / max(total["rare_tracks"], 1.0),
        "tracker_ms_per_frame": {
            "median": float(np.median(times)),
            "p90": float(np.percentile(times, 90)),
            "frames": len(times),
        },
        "cpu_seconds": time.process_time() - started_cpu,
    }
    report["provenance"] = provenance(
        ["benchmarks.bench_tracking"], vars(args), skip=("out", "cache")
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(json_safe(report), indent=2, allow_nan=False) + "\n")
    print(
        json.dumps(
            {
                k: report[k]
                for k in (
                    "mota",
                    "mota_ignoring_candidates_on_unlabelled_clutter",
                    "recall",
                    "switches_per_object_track",
                    "rare_tracks_followed_by_one_id",
                    "tracker_ms_per_frame",
                )
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
