"""The model performance delta of one loop turn: recall on the edge-case suite's new (rare)
classes before and after one retraining on ``--budget`` labelled frames chosen by the vehicle's
capture policy, against the same budget of randomly chosen frames (same labelling, same training).

* **Pool**: ``--drives`` natural ``urban_rare`` drives of ``--frames`` frames (seeds from
  ``POOL_SEED0``) with rare actors entering at ``--rare-rate`` per frame, simulated and scored
  once by the shipped model (``agent/models/baseline``) and cached under ``build/bench_loop``
  (``bench_selection.ensure_drive``, ``selection_drives.score_drive``).
* **Policies** (``benchmarks.loop_turn``): ``capture`` = ``loop_turn.CAPTURE_SCORE`` on foreground (the best single policy of
  ``benchmarks/results/events.json``) with one upload per place; ``combined`` = the daemon's fused
  score; ``active`` = the order the backend's labelling queue follows after each new model
  (``backend.annotation.active``: ``--active-score`` uncertainty of each frame's most uncertain
  candidate, cosine diversity of the candidates' embeddings, at most ``--active-kind-share`` of
  a ``--active-batch`` batch of one predicted class); ``random`` = uniform draws. Each takes
  ``--budget`` frames of the pooled drives. The active policy needs every detection's embedding,
  which the cached records keep none of: the pool is run through perception once more and the
  embeddings cached beside the records (``loop_turn.embed_drive``).
* **Labels**: the crowd's labelling model (``simulators.crowd.labelling.label_boxes``) with the
  most careful annotator of ``default_crowd()`` on the drive's truth, offline: not through the
  HTTP task API and without QA (``make demo`` exercises that path).
* **Training**: ``backend.training.retrain.Retrainer`` (local worker process, no MLflow) from the
  baseline, the labelled frames as the new source, the same two ``urban`` replay drives for every
  run, edge-case suite frames forbidden by digest, ``FinetuneConfig`` with ``--epochs`` epochs at
  the default learning rate and ``--min-labels`` (a rare class is tried as a new class only with
  that many labelled objects in the training split), at most ``--max-promoted`` tried per run and
  kept only at ``--min-val-recall`` validation recall (``backend.training.ontology``; each run
  records the review as ``promotion``).
* **Evaluation**: ``backend.evaluation.compare.compare_packages`` of the baseline against each
  candidate on the default suite (``simulators.suite_drives``, stride ``SUITE_STRIDE``): slice
  ``all``, paired frame-bootstrap 95 % intervals. Recall rule (``frame_scores``): an object of a
  class the model knows needs a detection *named* that class; an object of a class it does not
  know counts as found by *any* foreground detection. So the baseline's recall on a new class is
  "saw an obstacle there", and a candidate that promotes the class is held to naming it: the gain
  on a promoted class can be negative although the class was learnt.
* **Runs**: ``capture``, ``combined`` and ``active`` for each of ``--seeds`` (the seed drives the
  crowd's draws and the training); ``random`` for ``--random-draws`` draws (draw i uses seed i for
  the crowd and the training as well as for the frames).
* **Gain ratio**: per policy the mean over its runs of the pooled new-class recall difference
  (candidate - baseline); the interval of capture_gain / random_gain and of
  capture_gain - 3 random_gain comes from a bootstrap over runs (each policy's runs resampled with
  replacement, ``N_BOOT_RUNS`` replicates): it covers seed and draw variation, not the suite's
  sampling (that is in each run's paired interval). ``active_vs_random`` is the same comparison
  for the active policy.
* **Diagnosis** per policy (``diagnosis``): well-observed truth rare objects (at least
  ``MIN_RARE_POINTS`` points) in the selected frames, how many selected frames hold one, and the
  training candidates of each promoted class against background (``candidates_per_class`` of
  the run; ``benchmarks/results/retrain.json`` learnt one class from about 1800 candidates).

Run: ``.venv/bin/python -m benchmarks.bench_loop [--smoke]``; writes
``benchmarks/results/loop.json`` and ``loop_recall.png``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np

from backend.annotation.active import UNCERTAINTY_SCORES, ActiveWeights
from benchmarks.loop_turn import (
    ACTIVE_SCORE,
    CAPTURE_SCORE,
    POLICIES,
    FrameRef,
    PoolDrive,
    active_select,
    capture_select,
    combined_scores,
    embed_drive,
    label_selection,
    random_select,
    rare_in_selection,
    rare_only,
    top_k,
)
from benchmarks.selection_events import PlaceDedup

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "loop.json"
CACHE = REPO / "build" / "bench_loop"
POOL_SEED0: Final = 2000
REPLAY_SEEDS: Final = (1300, 1301)
REPLAY_FRAMES: Final = 150
#: the crowd member whose labels the runs use (the most careful of ``default_crowd()``)
ANNOTATOR: Final = "ann-ada"
#: a rare object counts as labelable in ``rare_in_selection`` from this many points
MIN_RARE_POINTS: Final = 20
GOAL_RECALL: Final = 0.8
GOAL_RATIO: Final = 3.0
N_BOOT_RUNS: Final = 2000
ALL: Final = "all"


def build_pool(args: argparse.Namespace, cache: Path) -> tuple[list[PoolDrive], dict[str, Any]]:
    """Simulate (or reuse) and score (or reuse) the pool drives."""
    from agent.perception.package import ModelPackage, default_package_path
    from agent.perception.pipeline import Perception
    from agent.scoring import ScoringStats, make_scorer
    from benchmarks.bench_selection import drive_name, ensure_drive, model_key
    from benchmarks.selection_drives import DriveScores, cache_name, score_drive

    package_dir = default_package_path()
    package = ModelPackage.load(package_dir)
    scorer = make_scorer(ScoringStats.load(package_dir), device="cpu")
    perception = Perception(package, providers=["CPUExecutionProvider"], intra_op_threads=1)
    key = model_key(package_dir, package.version)
    pool, facts = [], []
    for i in range(args.drives):
        path, sim_cpu = ensure_drive(cache, args.rare_rate, POOL_SEED0 + i, args.frames)
        name = drive_name(path, args.frames)
        score_path = cache / "scores" / key / cache_name(name)
        if score_path.exists():
            ds = DriveScores.load(score_path)
        else:
            ds = score_drive(path, args.frames, perception, scorer, f"score {name}")
            ds.save(score_path)
        embeddings = None
        if args.active:
            emb_path = score_path.with_name(score_path.stem + "-embeddings.npy")
            if emb_path.exists():
                embeddings = np.load(emb_path, allow_pickle=False)
            else:
                embeddings = embed_drive(path, args.frames, perception, ds.offsets)
                tmp = emb_path.with_name(emb_path.name + ".tmp.npy")
                np.save(tmp, embeddings)
                tmp.replace(emb_path)  # whole or absent, like the records
        pool.append(PoolDrive(path, ds, embeddings))
        rare_objects = rare_in_selection(
            [pool[-1]], [(0, f) for f in range(ds.frames)], MIN_RARE_POINTS
        )
        facts.append(
            {
                "seed": POOL_SEED0 + i,
                "frames": ds.frames,
                "rare_objects_min_points_per_class": rare_objects,
                "frames_with_a_well_observed_rare_object": int(
                    (ds.rare_points >= MIN_RARE_POINTS).sum()
                ),
                "simulation_cpu_s": sim_cpu * args.frames / int(path.name.rsplit("frames", 1)[1]),
                "perception_scoring_cpu_s": ds.cpu_s,
            }
        )
    return pool, {
        "drives": facts,
        "scorer": scorer,
        "package_version": package.version,
        "classes": package.class_names,
    }


def ensure_dir_drive(path: Path, scenario: str, frames: int, seed: int) -> Path:
    from simulators.drive import write_drive
    from simulators.scenario import builtin_scenario

    if not (path / "meta.json").exists():
        write_drive(builtin_scenario(scenario), frames, seed, path, progress=False, overwrite=True)
    return path


def active_weights(args: argparse.Namespace) -> ActiveWeights:
    """The active policy's order settings (the backend's ``[active]`` defaults otherwise)."""
    return ActiveWeights(batch_size=args.active_batch, max_kind_share=args.active_kind_share)


def active_refs(
    pool: Sequence[PoolDrive], classes: Sequence[str], args: argparse.Namespace
) -> list[FrameRef]:
    """The active policy's ``--budget`` frames."""
    return active_select(
        pool,
        args.budget,
        classes,
        score=args.active_score,
        foreground_only=args.active_candidates == "foreground",
        weights=active_weights(args),
    )


def selections(
    pool: Sequence[PoolDrive], pool_facts: Mapping[str, Any], args: argparse.Namespace
) -> list[tuple[str, int, list[FrameRef]]]:
    """(policy, seed, frames) of every run."""
    dedup = PlaceDedup(radius_m=args.place_radius)
    capture = capture_select(pool, args.budget, dedup)
    combined = top_k([combined_scores(d.scores, pool_facts["scorer"]) for d in pool], args.budget)
    active = active_refs(pool, pool_facts["classes"], args) if args.active else []
    runs: list[tuple[str, int, list[FrameRef]]] = []
    for seed in range(args.seeds):
        runs.append(("capture", seed, capture))
        if args.combined:
            runs.append(("combined", seed, combined))
        if args.active:
            runs.append(("active", seed, active))
    for draw in range(args.random_draws):
        rng = np.random.default_rng([args.random_seed, draw])
        runs.append(("random", draw, random_select(pool, args.budget, rng)))
    return runs


def rows_of(comparison: Any, new_classes: Sequence[str]) -> dict[str, Any]:
    """The ``all`` slice's figures a reader needs: new-class recall per class and pooled,
    overall recall, FP per frame, AP per class (each: champion, candidate, difference)."""
    out: dict[str, Any] = {}
    for row in comparison.rows:
        if row.slice != ALL:
            continue
        m = row.metric
        wanted = m in ("recall", "recall:rare", "fp_per_frame") or (
            m.count(":") == 1 and (m.startswith("ap:") or m.split(":")[1] in new_classes)
        )
        if wanted:
            out[m] = {k: v for k, v in row.to_json().items() if k != "slice"}
    return out


def one_run(
    pool: Sequence[PoolDrive],
    policy: str,
    seed: int,
    refs: Sequence[FrameRef],
    suite: Any,
    forbidden: set[str],
    replay: Sequence[Path],
    args: argparse.Namespace,
    work: Path,
) -> dict[str, Any]:
    from agent.perception.package import default_package_path
    from backend.evaluation.compare import compare_packages
    from backend.training.finetune import FinetuneConfig
    from backend.training.retrain import Retrainer, RunRecord
    from backend.training.sets import SetConfig
    from backend.training.sources import DriveSource
    from backend.training.workers import ProcessExecutor
    from simulators.crowd.profiles import default_crowd

    profile = next(p for p in default_crowd() if p.name == ANNOTATOR)
    run_dir = work / f"{policy}-{seed}"
    labelled = run_dir / "labelled"
    t0 = time.perf_counter()
    meta = {**json.loads((pool[0].path / "meta.json").read_text()), "selection": policy}
    counts = label_selection(pool, refs, profile, np.random.default_rng([seed, 7]), labelled, meta)
    registered: dict[str, Path] = {}

    def register(package_dir: Path, record: RunRecord) -> str:
        version = f"v{len(registered) + 1}"
        registered[version] = run_dir / "registry" / version
        shutil.copytree(package_dir, registered[version])
        return version

    retrainer = Retrainer(
        run_dir / "training",
        executor=ProcessExecutor(),
        register=register,
        clock=lambda: datetime.now(UTC),
    )
    t1 = time.perf_counter()
    outcome = retrainer.run(
        default_package_path(),
        [DriveSource(labelled)],
        [DriveSource(p) for p in replay],
        set_config=SetConfig(seed=seed, replay_share=0.3, val_share=0.2),
        config=FinetuneConfig(
            seed=seed,
            epochs=args.epochs,
            threads=args.threads,
            min_labels=args.min_labels,
            min_val_recall=args.min_val_recall,
            max_promoted=args.max_promoted if args.max_promoted > 0 else None,
        ),
        forbidden=forbidden,
    )
    t2 = time.perf_counter()
    comparison = compare_packages(
        default_package_path(), registered[outcome.version], suite, seed=args.boot_seed
    )
    t3 = time.perf_counter()
    new_classes = [c for c in suite.spec.rare_classes]
    return {
        "policy": policy,
        "seed": seed,
        "labelled_frames": len(refs),
        "truth_rare_objects_in_frames": rare_in_selection(pool, refs, MIN_RARE_POINTS),
        "frames_with_a_well_observed_rare_object": sum(
            int(pool[d].scores.rare_points[f] >= MIN_RARE_POINTS) for d, f in refs
        ),
        "labelled_rare_objects": rare_only(counts),
        "labelled_objects": sum(counts.values()),
        "promoted": list(outcome.promoted),
        "demoted": list(outcome.demoted),
        "promotion": outcome.promotion,
        "classes": list(outcome.classes),
        "candidates_per_class": outcome.candidates_per_class,
        "figures": rows_of(comparison, new_classes),
        "seconds": {"label": t1 - t0, "retrain": t2 - t1, "compare": t3 - t2},
    }


def gains(runs: Sequence[Mapping[str, Any]], policy: str) -> np.ndarray:
    return np.array(
        [r["figures"]["recall:rare"]["difference"]["value"] for r in runs if r["policy"] == policy],
        dtype=np.float64,
    )


def elsewhere(runs: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Mean over ``runs`` of the candidate - baseline difference of overall recall, false
    positives per frame and the mean AP of the common classes (a regression shows here)."""
    from core.classes import COMMON_CLASSES

    def ap_common(r: Mapping[str, Any], side: str) -> float:
        values = [
            r["figures"].get(f"ap:{c}", {}).get(side, {}).get("value") for c in COMMON_CLASSES
        ]
        return float(np.mean([v for v in values if v is not None]))

    return {
        "recall": float(np.mean([r["figures"]["recall"]["difference"]["value"] for r in runs])),
        "fp_per_frame": float(
            np.mean([r["figures"]["fp_per_frame"]["difference"]["value"] for r in runs])
        ),
        "ap_common_mean": float(
            np.mean([ap_common(r, "candidate") - ap_common(r, "champion") for r in runs])
        ),
    }


def diagnosis(runs: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Why a gain is what it is, mean over ``runs``: well-observed truth rare objects in the
    selected frames (``MIN_RARE_POINTS``), frames among them holding one, and the training
    candidates of a class tried as a new class (median over the tried classes: kept or
    demoted by the promotion review)."""
    from core.classes import is_rare

    def promoted_candidates(r: Mapping[str, Any]) -> float:
        tried = {*r["promoted"], *r.get("demoted", ())}
        counts = [n for c, n in r["candidates_per_class"].items() if c in tried]
        return float(np.median(counts)) if counts else math.nan

    return {
        "truth_rare_objects_in_frames": float(
            np.mean([sum(r["truth_rare_objects_in_frames"].values()) for r in runs])
        ),
        "frames_with_a_well_observed_rare_object": float(
            np.mean([r["frames_with_a_well_observed_rare_object"] for r in runs])
        ),
        "median_training_candidates_per_promoted_class": float(
            np.nanmean([promoted_candidates(r) for r in runs])
        ),
        "training_candidates_background": float(
            np.mean([r["candidates_per_class"].get("background", 0) for r in runs])
        ),
        "training_candidates_rare_total": float(
            np.mean(
                [sum(n for c, n in r["candidates_per_class"].items() if is_rare(c)) for r in runs]
            )
        ),
    }


def summarise(runs: Sequence[Mapping[str, Any]], seed: int) -> dict[str, Any]:
    """Per policy: mean and spread of the new-class recall before/after and gain; the capture /
    random gain ratio with its run bootstrap (module docstring)."""
    out: dict[str, Any] = {}
    for policy in POLICIES:
        mine = [r for r in runs if r["policy"] == policy]
        if not mine:
            continue
        after = [r["figures"]["recall:rare"]["candidate"]["value"] for r in mine]
        out[policy] = {
            "runs": len(mine),
            "recall_new_before": mine[0]["figures"]["recall:rare"]["champion"],
            "recall_new_after_mean": float(np.mean(after)),
            "recall_new_after_runs": after,
            "gain_mean": float(np.mean(gains(runs, policy))),
            "gain_runs": gains(runs, policy).tolist(),
            "rare_objects_labelled_mean": float(
                np.mean([sum(r["labelled_rare_objects"].values()) for r in mine])
            ),
            "promoted_runs": [r["promoted"] for r in mine],
            "elsewhere_mean_difference": elsewhere(mine),
            "diagnosis": diagnosis(mine),
        }
    rnd = gains(runs, "random")
    for policy in ("capture", "active"):
        policy_gain = gains(runs, policy)
        if policy_gain.size and rnd.size:
            out[f"{policy}_vs_random"] = versus_random(policy_gain, rnd, policy, seed)
    return out


def versus_random(gain: np.ndarray, rnd: np.ndarray, policy: str, seed: int) -> dict[str, Any]:
    """``policy``'s gain against random's: their ratio and the margin over 3x random, with a
    bootstrap over runs (module docstring; the same draws for every policy)."""
    rng = np.random.default_rng(seed)
    c = rng.choice(gain, (N_BOOT_RUNS, gain.size)).mean(axis=1)
    r = rng.choice(rnd, (N_BOOT_RUNS, rnd.size)).mean(axis=1)
    margin = c - GOAL_RATIO * r
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(r > 0, c / r, np.nan)
    return {
        "gain_ratio": float(gain.mean() / rnd.mean()) if rnd.mean() > 0 else None,
        "gain_ratio_95": [float(v) for v in np.nanpercentile(ratio, [2.5, 97.5])]
        if np.isfinite(ratio).any()
        else None,
        "replicates_with_random_gain_le_0": float((r <= 0).mean()),
        f"margin_{policy}_minus_3x_random": float(gain.mean() - GOAL_RATIO * rnd.mean()),
        "margin_95": [float(v) for v in np.percentile(margin, [2.5, 97.5])],
        "interval": f"bootstrap over runs ({gain.size} {policy}, {rnd.size} random), "
        f"{N_BOOT_RUNS} replicates, percentile",
    }


def goals(summary: Mapping[str, Any]) -> dict[str, Any]:
    cap = summary.get("capture")
    vs = summary.get("capture_vs_random")
    if cap is None or vs is None:
        return {"note": "capture and random runs are both needed"}
    return {
        "recall_new_goal": GOAL_RECALL,
        "gain_ratio_goal": GOAL_RATIO,
        "capture_recall_new_after": cap["recall_new_after_mean"],
        "meets_recall": cap["recall_new_after_mean"] >= GOAL_RECALL,
        "capture_gain": cap["gain_mean"],
        "random_gain": summary["random"]["gain_mean"],
        "meets_ratio": cap["gain_mean"] > 0 and vs["margin_capture_minus_3x_random"] >= 0,
        "meets_ratio_lower_bound": cap["gain_mean"] > 0 and vs["margin_95"][0] >= 0,
    }


def plot(runs: Sequence[Mapping[str, Any]], new_classes: Sequence[str], out: Path) -> None:
    """New-class recall on the suite per class and pooled: the baseline and each policy's
    candidates (bar = mean over runs, whiskers = the runs' range)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [f"recall:{c}" for c in new_classes] + ["recall:rare"]
    labels = [*new_classes, "pooled"]
    present = [(m, lab) for m, lab in zip(metrics, labels, strict=True) if m in runs[0]["figures"]]
    policies = [p for p in POLICIES if any(r["policy"] == p for r in runs)]
    width = 0.8 / (len(policies) + 1)
    x = np.arange(len(present))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(present)), 4.0))
    before = [runs[0]["figures"][m]["champion"]["value"] for m, _ in present]
    ax.bar(x, before, width, label="baseline", color="0.6")
    for j, policy in enumerate(policies, start=1):
        vals = np.array(
            [
                [r["figures"][m]["candidate"]["value"] for m, _ in present]
                for r in runs
                if r["policy"] == policy
            ],
            dtype=np.float64,
        )
        mean = vals.mean(axis=0)
        err = np.vstack([mean - vals.min(axis=0), vals.max(axis=0) - mean])
        ax.bar(x + j * width, mean, width, yerr=err, capsize=2, label=f"{policy} ({len(vals)})")
    ax.axhline(GOAL_RECALL, color="k", ls=":", lw=1, label="goal 0.8")
    ax.set_xticks(x + width * len(policies) / 2, [lab for _, lab in present], rotation=30)
    ax.set_ylabel("recall on the edge-case suite")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"one loop turn, {runs[0]['labelled_frames']} labelled frames")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def build_suite_for(cache: Path, args: argparse.Namespace) -> Any:
    from backend.evaluation.suite import build_suite
    from simulators.suite_drives import DEFAULT_SUITE, SUITE_STRIDE, write_suite_drives

    drives = DEFAULT_SUITE[: args.suite_drives or None]
    if args.suite_frames:
        drives = tuple(dataclasses.replace(d, frames=args.suite_frames) for d in drives)
    root = cache / f"suite-{len(drives)}x{args.suite_frames or 'default'}"
    return build_suite(write_suite_drives(root, drives), root, stride=SUITE_STRIDE)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from backend.evaluation.suite import suite_digests

    cache = Path(args.cache)
    t0 = time.perf_counter()
    pool, pool_facts = build_pool(args, cache)
    suite = build_suite_for(cache, args)
    replay = [
        ensure_dir_drive(
            cache / f"replay-urban-{s}-f{args.replay_frames}", "urban", args.replay_frames, s
        )
        for s in REPLAY_SEEDS
    ]
    prepared = time.perf_counter() - t0
    forbidden = suite_digests(suite)
    new_classes = list(suite.spec.rare_classes)
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-loop-") as tmp:
        for policy, seed, refs in selections(pool, pool_facts, args):
            result = one_run(pool, policy, seed, refs, suite, forbidden, replay, args, Path(tmp))
            log.info("%s seed %d: %s", policy, seed, result["figures"].get("recall:rare"))
            runs.append(result)
    present = [c for c in new_classes if f"recall:{c}" in runs[0]["figures"]]
    summary = summarise(runs, args.boot_seed)
    return {
        "pool": {
            "drives": pool_facts["drives"],
            "frames": sum(d.scores.frames for d in pool),
            "budget_share": args.budget / sum(d.scores.frames for d in pool),
        },
        "package_version": pool_facts["package_version"],
        "suite": {
            "name": suite.name,
            "version": suite.version,
            "frames": len(suite.frames),
            "new_classes_present": present,
            "new_class_objects": {c: runs[0]["figures"][f"recall:{c}"]["support"] for c in present},
        },
        "runs": runs,
        "summary": summary,
        "goals": goals(summary),
        "prepare_seconds": prepared,
        "present": present,
    }


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--drives", type=int, default=2, help="pool drives")
    p.add_argument("--frames", type=int, default=2000, help="frames per pool drive")
    p.add_argument("--rare-rate", type=float, default=0.015, help="rare actors per frame")
    p.add_argument("--budget", type=int, default=200, help="labelled frames per run")
    p.add_argument("--seeds", type=int, default=2, help="capture (and combined) runs")
    p.add_argument("--random-draws", type=int, default=3)
    p.add_argument("--random-seed", type=int, default=0)
    p.add_argument("--no-combined", dest="combined", action="store_false")
    p.add_argument("--no-active", dest="active", action="store_false")
    p.add_argument(
        "--active-score", default=ACTIVE_SCORE, choices=UNCERTAINTY_SCORES, help="uncertainty"
    )
    p.add_argument("--active-candidates", default="foreground", choices=("foreground", "all"))
    p.add_argument("--active-batch", type=int, default=ActiveWeights().batch_size)
    p.add_argument("--active-kind-share", type=float, default=ActiveWeights().max_kind_share)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--min-labels", type=int, default=20)
    p.add_argument(
        "--min-val-recall", type=float, default=0.5, help="validation recall a new class needs"
    )
    p.add_argument(
        "--max-promoted", type=int, default=2, help="new classes tried per run (0: no cap)"
    )
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--place-radius", type=float, default=PlaceDedup().radius_m)
    p.add_argument("--replay-frames", type=int, default=REPLAY_FRAMES)
    p.add_argument("--suite-drives", type=int, default=0, help="first K suite drives (0: all)")
    p.add_argument(
        "--suite-frames", type=int, default=0, help="frames per suite drive (0: its own)"
    )
    p.add_argument("--boot-seed", type=int, default=0)
    p.add_argument("--smoke", action="store_true", help="a tiny configuration (seconds)")
    p.add_argument("--cache", type=Path, default=CACHE)
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    if args.smoke:
        args.drives, args.frames, args.budget, args.seeds, args.random_draws = 1, 40, 12, 1, 1
        args.combined, args.epochs, args.min_labels, args.replay_frames = False, 1, 2, 12
        args.suite_drives, args.suite_frames, args.rare_rate = 1, 8, 0.1
    return args


def main(argv: Sequence[str] | None = None) -> int:
    from backend.evaluation.algo import json_safe
    from benchmarks.machine import describe_machine
    from benchmarks.provenance import provenance

    args = parse(argv)
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    measured = run(args)
    present = measured.pop("present")
    result = {
        "benchmark": "loop performance delta (benchmarks.bench_loop)",
        "machine": describe_machine(
            note="shared development machine: other processes ran alongside"
        ),
        "settings": {
            **{k: v for k, v in vars(args).items() if k not in ("cache", "out", "smoke")},
            "annotator": ANNOTATOR,
            "capture_policy": f"{CAPTURE_SCORE} on foreground, one upload per place (best single policy of events.json)",
            "active_policy": "backend.annotation.active order: the frame's most uncertain "
            "candidate, cosine diversity of embeddings, class balance per batch",
            "labels": "the simulated crowd's labelling model (label_boxes), offline: not through "
            "the HTTP task API and without QA; make demo exercises the API path",
            "min_rare_points": MIN_RARE_POINTS,
        },
        "definitions": __doc__,
        **measured,
        "wall_seconds": time.perf_counter() - started,
        "provenance": provenance(["benchmarks.bench_loop"], vars(args), skip=("out", "cache")),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(json_safe(result), indent=1, allow_nan=False) + "\n")
    plot(result["runs"], present, args.out.with_name(args.out.stem + "_recall.png"))
    for r in result["runs"]:
        f = r["figures"]["recall:rare"]
        print(
            f"{r['policy']:8s} seed {r['seed']}: rare labelled {r['labelled_rare_objects']} "
            f"promoted {r['promoted']} new-class recall {f['champion']['value']:.3f} -> "
            f"{f['candidate']['value']:.3f} (diff {f['difference']['value']:+.3f} "
            f"[{f['difference']['lo']:+.3f}, {f['difference']['hi']:+.3f}])"
        )
    print(json.dumps(json_safe(result["goals"])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
