"""How far could *any* per-candidate detector go? A supervised probe as the ceiling of selection.

``bench_selection`` shows that no score of the shipped model finds the rare-object frames at a 1 %
budget. Is that the scores' fault or the candidates'? This benchmark trains what no vehicle could
have, a detector that has *seen* the rare classes, and ranks frames with it exactly as the
selection benchmark ranks them with the scores. If even that misses the goal, better scoring of
the same candidates cannot reach it, and the next step is a different representation.

Method
------
* The drives are ``bench_selection``'s (same scenario, seeds, caches; simulated if missing).
  Every candidate of every frame is taken from the runtime's own pre-processing
  (``agent.perception.preprocess``): the ``P`` points in the candidate's box frame and the
  candidate features the network also sees. A candidate is *rare* when its fitted box overlaps a
  rare object's box in BEV (``selection_drives.rare_overlap``, as in ``bench_selection``).
* The probe is a PointNet of the baseline network's size (per-point MLP 4 -> 64 -> 128, max-pool,
  joined with the features, 128 -> 1), trained with binary cross-entropy to tell rare candidates
  from all others. Leave one seed out: the probe evaluated on seed ``s`` is trained on all rare
  candidates of the other seeds' natural *and* enriched drives plus ``--negatives`` ordinary
  candidates drawn from them at random.
* Frame score = the probe's largest logit over the frame's candidates; metrics, thresholds and the
  natural / enriched estimates are ``bench_selection``'s (``selection_policies.evaluate_seed``).
  Also reported per held-out seed: the candidate-level AUROC, and the share of rare candidates
  above the 0.99 / 0.999 / 0.9999 quantiles of the natural drive's ordinary candidates.

Writes ``benchmarks/results/selection_probe.json``. Run:
``.venv/bin/python -m benchmarks.bench_selection_probe [--seeds 3 --epochs 6]``.
"""

from __future__ import annotations

import os

# one core: set before numba and ONNX Runtime are imported, as in bench_selection
os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np

from agent.perception.preprocess import Preprocessor
from benchmarks.bench_selection import (
    NATURAL_SEED0,
    add_drive_arguments,
    drive_name,
    ensure_drive,
    json_safe,
    machine,
    model_key,
)
from benchmarks.provenance import provenance
from benchmarks.selection_drives import frame_labels, frame_max
from benchmarks.selection_policies import BUDGET, evaluate_seed, summarise
from benchmarks.selection_probe import (
    DriveCandidates,
    candidate_level,
    extract_candidates,
    probe_logits,
    train_probe,
    training_rows,
)

RESULTS: Final = Path(__file__).resolve().parent / "results" / "selection_probe.json"


def load_drives(args: argparse.Namespace) -> list[tuple[DriveCandidates, DriveCandidates]]:
    """Per seed, the (natural, enriched) candidates, extracted once per drive and model."""
    from agent.perception.package import ModelPackage, default_package_path

    package_dir = default_package_path()
    package = ModelPackage.load(package_dir)
    preprocess = Preprocessor(package.params)
    cache = Path(args.cache)
    key = model_key(package_dir, package.version)
    drives = []
    for i in range(args.seeds):
        pair = []
        for rate, frames in ((None, args.frames), (args.enriched_rate, args.enriched_frames)):
            path, _ = ensure_drive(cache, rate, NATURAL_SEED0 + i, frames)
            name = drive_name(path, frames)
            stored = cache / "candidates" / key / f"{name}.npz"
            if not stored.exists():
                extract_candidates(path, frames, preprocess, f"candidates {name}").save(stored)
            pair.append(DriveCandidates.load(stored))
        drives.append((pair[0], pair[1]))
    return drives


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Leave-one-seed-out: train on the other seeds, evaluate on the held-out one."""
    drives = load_drives(args)
    budgets = [BUDGET]
    per_seed, folds = [], []
    for held_out, (natural, enriched) in enumerate(drives):
        train = [d for i, pair in enumerate(drives) if i != held_out for d in pair]
        rare = np.concatenate([d.rare for d in train])
        rows = training_rows(rare, args.negatives, np.random.default_rng(args.seed + held_out))
        started = time.process_time()
        probe = train_probe(
            np.concatenate([d.points for d in train])[rows],
            np.concatenate([d.features for d in train])[rows],
            rare[rows],
            epochs=args.epochs,
            seed=args.seed + held_out,
        )
        train_cpu = time.process_time() - started
        nat = probe_logits(probe, natural.points, natural.features)
        enr = probe_logits(probe, enriched.points, enriched.features)
        y_nat = frame_labels(natural.rare_points, args.min_rare_points)
        y_enr = frame_labels(enriched.rare_points, args.min_rare_points)
        scores_n = {"supervised_probe": frame_max(nat, natural.offsets)}
        scores_e = {"supervised_probe": frame_max(enr, enriched.offsets)}
        per_seed.append(evaluate_seed(scores_n, y_nat, scores_e, y_enr, budgets))
        ordinary = nat[~natural.rare & (y_nat[natural.frame] == 0)]
        folds.append(
            {
                "held_out_seed": NATURAL_SEED0 + held_out,
                "training_rare_candidates": int(rare[rows].sum()),
                "training_ordinary_candidates": int((~rare[rows]).sum()),
                "training_cpu_seconds": train_cpu,
                "natural_rare_frames": int((y_nat == 1).sum()),
                "enriched_rare_frames": int((y_enr == 1).sum()),
                "candidate_level": {
                    "natural": candidate_level(nat, natural.rare, ordinary),
                    "enriched": candidate_level(enr, enriched.rare, ordinary),
                },
                "recall_at_1pct": {
                    est: per_seed[-1]["supervised_probe"][est]["recall_at_1pct"]
                    for est in ("natural", "enriched")
                },
            }
        )
    summary = summarise(per_seed)["supervised_probe"]
    for est in summary.values():
        est.pop("mean_curve")
    return {"summary": summary, "folds": folds}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    add_drive_arguments(parser)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--negatives", type=int, default=40_000, help="ordinary rows per fold")
    parser.add_argument("--seed", type=int, default=0, help="training seed of the first fold")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.seeds < 2 or args.epochs < 1 or args.negatives < 1:
        parser.error("--seeds must be >= 2 (leave one out), --epochs and --negatives >= 1")
    started = time.perf_counter()
    result = run(args)
    report = {
        "benchmark": "supervised per-candidate probe: the ceiling of selection "
        "(benchmarks.bench_selection_probe)",
        "machine": machine(),
        "settings": {k: v for k, v in vars(args).items() if k not in ("cache", "out")},
        "method": (__doc__ or "").split("Method")[1].split("Writes")[0].strip("-\n "),
        **result,
        "wall_seconds": time.perf_counter() - started,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report["provenance"] = provenance(["benchmarks.bench_selection_probe"], vars(args))
    args.out.write_text(json.dumps(json_safe(report), indent=2, allow_nan=False) + "\n")
    for fold in report["folds"]:
        print(json.dumps(json_safe(fold)))
    print(json.dumps(json_safe(report["summary"]), indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
