"""One targeted retraining run at a realistic size: stage times, candidates per class and how
well the new class is learnt, for each number of fine-tuning epochs.

Drives (simulated here, seeds fixed): ``--frames`` frames of a street with strollers (the
``rare_heavy`` scenario with only strollers, a rare actor entering with probability 0.08 per
frame), a held-out drive of ``--val-frames`` frames of the same street, and ``--replay-frames``
frames of the ``urban`` scenario (no rare class) replayed as earlier training data. The run is
the product's: ``backend.training.retrain.Retrainer`` with the default local worker process and
MLflow in a local SQLite store, fine-tuning from the shipped baseline (``agent/models/baseline``).
The training set splits by drive, so the held-out drive is the validation split.

Per epoch count: wall seconds per stage (dataset build, the worker's candidates, training,
packaging with scoring statistics, the parent's unpack + checks + MLflow), candidates per class,
candidate-level validation recall per class (``FinetuneResult.val_recall``) and the new class's
detection recall on the held-out drive with the vehicle's runtime: a labelled stroller with at
least ``MIN_POINTS`` points counts as found when a detection called ``stroller`` has its BEV
centre within ``MATCH_M`` metres; stroller detections farther than that from every labelled
object are counted as false positives. The baseline cannot name a stroller (recall 0).

Run: ``.venv/bin/python -m benchmarks.bench_retrain [--epochs 2 4 8]``; writes
``benchmarks/results/retrain.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from agent.perception.network import CPU
from agent.perception.package import ModelPackage, default_package_path
from agent.perception.pipeline import Perception
from backend.evaluation.algo import json_safe
from backend.training.finetune import FinetuneConfig
from backend.training.retrain import Retrainer, RunRecord
from backend.training.sets import SetConfig, TrainingSet
from backend.training.sources import DriveSource
from backend.training.tracking import MlflowTracker, default_tracking_uri
from backend.training.workers import ProcessExecutor
from benchmarks.machine import describe_machine
from benchmarks.provenance import provenance
from core.formats.dataset import Dataset
from simulators.drive import write_drive
from simulators.scenario import builtin_scenario

log = logging.getLogger(__name__)

RESULTS = Path(__file__).resolve().parent / "results" / "retrain.json"
NEW_CLASS = "stroller"
MIN_POINTS = 20
MATCH_M = 1.0


def simulate(root: Path, frames: int, val_frames: int, replay_frames: int) -> dict[str, Path]:
    street = replace(
        builtin_scenario("rare_heavy"),
        name="stroller_street",
        rare_rate=0.08,
        rare_mix={NEW_CLASS: 1.0},
    )
    plan = {
        "train": (street, frames, 31),
        "val": (street, val_frames, 32),
        "replay": (builtin_scenario("urban"), replay_frames, 33),
    }
    for name, (scenario, n, seed) in plan.items():
        write_drive(scenario, n, seed, root / name, progress=False)
    return {name: root / name for name in plan}


def detection_recall(package_dir: Path, training_set: TrainingSet) -> dict[str, float]:
    """The new class's detection recall and false positives on the validation split."""
    perception = Perception(ModelPackage.load(package_dir), providers=[CPU])
    found = total = far = frames = 0
    for group in training_set.dirs("val"):
        ds = Dataset(group)
        for index in ds.indices:
            det, labels = perception(ds.points(index)), ds.labels(index)
            frames += 1
            mine = det.boxes[np.asarray(det.class_names) == NEW_CLASS].reshape(-1, 7)
            boxes = labels.boxes()
            for o in labels.objects:
                if o.class_name != NEW_CLASS or o.num_points < MIN_POINTS:
                    continue
                total += 1
                d = np.hypot(mine[:, 0] - o.box[0], mine[:, 1] - o.box[1])
                found += bool(d.size and d.min() < MATCH_M)
            for b in mine:
                d = np.hypot(boxes[:, 0] - b[0], boxes[:, 1] - b[1])
                far += not (d.size and d.min() < MATCH_M)
    return {
        "recall": found / max(total, 1),
        "objects": total,
        "false_positives_per_frame": far / max(frames, 1),
    }


def run_once(drives: dict[str, Path], epochs: int, work: Path, seed: int) -> dict[str, Any]:
    registered: dict[str, Path] = {}

    def register(package_dir: Path, record: RunRecord) -> str:
        version = f"v{len(registered) + 1}"
        registered[version] = work / "registry" / version
        shutil.copytree(package_dir, registered[version])
        return version

    root = work / "training"
    root.mkdir(parents=True)
    retrainer = Retrainer(
        root,
        executor=ProcessExecutor(),
        register=register,
        clock=lambda: datetime.now(UTC),
        tracker=MlflowTracker(default_tracking_uri(root), artifact_dir=root / "mlartifacts"),
    )
    started = time.perf_counter()
    outcome = retrainer.run(
        default_package_path(),
        [DriveSource(drives["train"]), DriveSource(drives["val"])],
        [DriveSource(drives["replay"])],
        set_config=SetConfig(seed=seed, replay_share=0.3, val_share=0.2),
        config=FinetuneConfig(seed=seed, epochs=epochs, threads=2),
    )
    wall = time.perf_counter() - started
    training_set = TrainingSet.open(root / "sets" / outcome.record.training_set_digest)
    return {
        "epochs": epochs,
        "wall_s": wall,
        "stage_s": outcome.seconds,
        "classes": list(outcome.classes),
        "promoted": list(outcome.promoted),
        "candidates_per_class": outcome.candidates_per_class,
        "val_candidate_recall": outcome.val_recall,
        "history": outcome.history,
        "set": training_set.manifest["summary"],
        "splits": [
            [g["split"], g["source"], len(g["frames"])] for g in training_set.manifest["groups"]
        ],
        NEW_CLASS: detection_recall(registered[outcome.version], training_set),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--val-frames", type=int, default=60)
    parser.add_argument("--replay-frames", type=int, default=100)
    parser.add_argument("--epochs", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="bench-retrain-") as tmp:
        t0 = time.perf_counter()
        drives = simulate(Path(tmp) / "drives", args.frames, args.val_frames, args.replay_frames)
        simulate_s = time.perf_counter() - t0
        runs = [
            run_once(drives, e, Path(tmp) / f"e{e}", args.seed) for e in sorted(set(args.epochs))
        ]
    result = {
        "benchmark": "retrain",
        "machine": describe_machine(),
        "simulate_s": simulate_s,
        "new_class": NEW_CLASS,
        "match": {"min_points": MIN_POINTS, "bev_centre_m": MATCH_M},
        "runs": runs,
        "provenance": provenance(["benchmarks.bench_retrain"], vars(args)),
    }
    args.out.write_text(json.dumps(json_safe(result), indent=1, allow_nan=False) + "\n")
    for run in runs:
        print(
            f"epochs {run['epochs']}: {run['wall_s']:.1f} s "
            f"{ {k: round(v, 1) for k, v in run['stage_s'].items()} } "
            f"{NEW_CLASS} detection recall {run[NEW_CLASS]['recall']:.3f} "
            f"({run[NEW_CLASS]['objects']} objects), candidate recall "
            f"{run['val_candidate_recall'][NEW_CLASS]:.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
