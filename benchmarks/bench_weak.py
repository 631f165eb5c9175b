"""Weak labels against the simulator's truth: how many candidates get a label, how often it is
right, per class, compared with the champion's detections alone in the same run.

Drives (simulated here, seeds disjoint from every training plan): ``--frames`` frames each of
two ``urban`` drives and one ``rare_heavy`` drive (about ten rare actors around the vehicle, none
of them a class the champion knows). The champion is the shipped baseline package
(``agent/models/baseline``), run by the vehicle's runtime on CPU with one thread.

Labellers, on the same candidates (every candidate the runtime returns, background included):

- ``weak``: the three labelling functions (champion, track, geometry) combined by Dawid-Skene
  (``backend.training.weak``), a label kept when its posterior is at least ``--min-posterior``;
- ``champion_only`` (the baseline): the champion's class where its ensemble-mean probability is
  at least the champion function's ``min_score`` and its members agree; also swept over
  ``CHAMPION_SCORES`` (scores only, members not required to agree at 0.5: the plain argmax) so
  coverage can be compared at equal precision.

Per class: precision, recall and coverage of each labeller and labelling function against the
gold class (``backend.training.weak.accuracy``), with Wilson 95 % intervals; the rare objects
given a label (an error by construction) are counted by the label they got. Then what training
sees: the weak and the champion-only labels are written as weak drives and the training code's
candidate labelling (``backend.training.candidates.build_candidates``) is run on them and on the
ground-truth drive; per candidate the two labels are compared (agree, differ, dropped by the
labeller as unsure, a rare object trained as a known class).

Run: ``.venv/bin/python -m benchmarks.bench_weak``; writes ``benchmarks/results/weak.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from agent.perception.network import CPU
from agent.perception.package import ModelPackage, default_package_path
from agent.perception.pipeline import Perception
from agent.perception.preprocess import Preprocessor
from backend.evaluation.algo import json_safe
from backend.training.candidates import DROPPED, build_candidates
from backend.training.weak.accuracy import class_report
from backend.training.weak.drive import drive_frames, observe_drive
from backend.training.weak.functions import ABSTAIN, champion_votes
from backend.training.weak.labeller import WeakResult, WeakSettings, label_drives, report
from backend.training.weak.store import write_weak_drive
from benchmarks.machine import describe_machine
from benchmarks.provenance import provenance
from core.formats.dataset import Dataset
from simulators.drive import write_drive
from simulators.scenario import builtin_scenario

log = logging.getLogger(__name__)

RESULTS = Path(__file__).resolve().parent / "results" / "weak.json"
#: (scenario, seed) of the held-out drives
DRIVES = (("urban", 601), ("urban", 602), ("rare_heavy", 603))
#: champion-only labels at these ensemble-mean scores (0.5 and below: every argmax)
CHAMPION_SCORES = (0.5, 0.8, 0.9, 0.95, 0.99)
POSTERIORS = (0.9, 0.95, 0.99)


def overall(
    predicted: list[str | None], gold: list[str], classes: tuple[str, ...]
) -> dict[str, Any]:
    o = class_report(predicted, gold, classes)["overall"]
    return {"precision": o["precision"], "coverage": o["coverage"]}


def sweeps(results: list[WeakResult], classes: tuple[str, ...]) -> dict[str, Any]:
    """Overall precision and coverage of the weak labels at several posteriors, and of the
    champion's labels at several scores."""
    gold = [g for r in results for g in r.gold or ()]
    label = np.concatenate([r.labels.label for r in results])
    posterior = np.concatenate([r.labels.posterior for r in results])
    weak = {
        f"{t:g}": overall(
            [
                classes[k] if k != ABSTAIN and p >= t else None
                for k, p in zip(label, posterior, strict=True)
            ],
            gold,
            classes,
        )
        for t in POSTERIORS
    }
    champion = {}
    for score in CHAMPION_SCORES:
        votes = np.concatenate(
            [champion_votes(r.observed.observations, score, unanimous=score > 0.5) for r in results]
        )
        champion[f"{score:g}"] = overall(
            [classes[k] if k != ABSTAIN else None for k in votes], gold, classes
        )
    return {"weak_by_min_posterior": weak, "champion_by_min_score": champion}


def training_view(
    drive: Path, result: WeakResult, work: Path, package: ModelPackage
) -> dict[str, Any]:
    """Candidates as the training code labels them from the weak and champion-only drives,
    against the same candidates labelled from the ground truth (a candidate missing from the
    training code's output was dropped: a rare object in the truth, an unsure one in weak
    labels)."""
    classes = package.class_names
    pre = Preprocessor(package.params)
    ds = Dataset(drive)
    universe = [
        (index, np.round(b, 3).tobytes())
        for index in ds.indices
        for b in pre(ds.points(index)).boxes
    ]

    def labels_of(root: Path, frame_of: dict[int, int]) -> dict[tuple[int, bytes], int]:
        cands = build_candidates(root, package.params, classes, progress=False)
        return {
            (frame_of[int(f)], np.round(b, 3).tobytes()): int(lab)
            for f, b, lab in zip(cands.frame, cands.boxes, cands.labels, strict=True)
        }

    keys = result.observed.keys
    truth = labels_of(drive, {int(k): int(k) for k in keys})
    out: dict[str, Any] = {}
    for name, labels in (("weak", result.labels), ("champion_only", result.baseline)):
        as_weak = replace(result, labels=labels)
        target = work / f"{drive.name}-{name}"
        written = as_weak.written_positions()
        write_weak_drive(
            target, as_weak, drive_frames(drive), champion=package.version, settings={}, sources=[]
        )
        mine = labels_of(target, {i: int(keys[p]) for i, p in enumerate(written)})
        shutil.rmtree(target)  # a drive's copies are large: keep one at a time on disk
        done = {int(keys[p]) for p in written}
        counts: Counter[str] = Counter()
        rare_as: Counter[str] = Counter()
        for key in universe:
            if key[0] not in done:
                counts["frame_not_written"] += 1
                continue
            gt, got = truth.get(key, DROPPED), mine.get(key, DROPPED)
            if gt == DROPPED and got == DROPPED:
                counts["both_dropped"] += 1
            elif gt == DROPPED:
                counts["rare_trained_as_known"] += 1
                rare_as[classes[got]] += 1
            elif got == DROPPED:
                counts["dropped_as_unsure"] += 1
            else:
                counts["agree" if got == gt else "differ"] += 1
        out[name] = {"candidates": dict(sorted(counts.items())), "rare_trained_as": dict(rare_as)}
    return out


def merge_views(views: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("weak", "champion_only"):
        counts: Counter[str] = Counter()
        rare: Counter[str] = Counter()
        for v in views:
            counts.update(v[name]["candidates"])
            rare.update(v[name]["rare_trained_as"])
        used = counts["agree"] + counts["differ"]
        out[name] = {
            "candidates": dict(sorted(counts.items())),
            "rare_trained_as": dict(sorted(rare.items())),
            "agreement": counts["agree"] / used if used else float("nan"),
            "trained_share": used / max(sum(counts.values()), 1),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--min-posterior", type=float, default=0.95)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    seconds: dict[str, float] = {}
    package = ModelPackage.load(default_package_path())
    perception = Perception(package, providers=[CPU], intra_op_threads=1)
    settings = WeakSettings(min_posterior=args.min_posterior)
    with tempfile.TemporaryDirectory(prefix="bench-weak-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        drives = []
        for scenario, seed in DRIVES:
            target = work / f"{scenario}-{seed}"
            write_drive(builtin_scenario(scenario), args.frames, seed, target, progress=False)
            drives.append(target)
        seconds["simulate"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        observed, golds = [], []
        for d in drives:
            o, g = observe_drive(d, perception)
            assert g is not None  # simulated drives carry ground truth
            observed.append(o)
            golds.append(g)
        seconds["perception_and_tracking"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        results = label_drives(observed, settings, gold=golds)
        seconds["label_model"] = time.perf_counter() - t2
        summary = report(results)
        classes = results[0].classes
        t3 = time.perf_counter()
        views = [training_view(d, r, work, package) for d, r in zip(drives, results, strict=True)]
        seconds["training_view"] = time.perf_counter() - t3
    result = {
        "benchmark": "weak",
        "machine": describe_machine(),
        "champion": package.version,
        "drives": [{"scenario": s, "seed": seed, "frames": args.frames} for s, seed in DRIVES],
        "settings": settings.to_json(),
        "seconds": seconds,
        "report": summary,
        "sweeps": sweeps(results, classes),
        "training_view": merge_views(views),
        "provenance": provenance(["benchmarks.bench_weak"], vars(args)),
    }
    args.out.write_text(json.dumps(json_safe(result), indent=1, allow_nan=False) + "\n")
    acc = summary["accuracy"]
    for name in ("weak", "champion_only"):
        o = acc[name]["overall"]
        print(
            f"{name}: precision {o['precision']['value']:.3f} coverage {o['coverage']['value']:.3f}"
        )
        for c, row in acc[name]["classes"].items():
            print(
                f"  {c:<11} P {row['precision']['value']:.3f} ({row['precision']['trials']}) "
                f"R {row['recall']['value']:.3f} of {row['recall']['trials']}"
            )
    print(json.dumps(result["training_view"], indent=1))
    print({k: round(v, 1) for k, v in seconds.items()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
