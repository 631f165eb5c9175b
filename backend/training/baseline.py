"""``longtail model build-baseline``: the shipped baseline, reproducibly, in one command.

Simulates training, validation and test drives of the built-in "urban" scenario (fixed seeds),
trains with a fixed seed, evaluates on the held-out test drives, writes the package (with its
scoring statistics) to ``agent/models/baseline`` and the evaluation to
``benchmarks/results/model_eval.json``.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.perception.package import default_package_path
from agent.scoring import ScoringStats
from backend.evaluation.algo import json_safe
from backend.evaluation.run import evaluate_package
from backend.training.package import update_metrics
from backend.training.run import train_package
from backend.training.train import TrainConfig

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_REPORT = REPO_ROOT / "benchmarks" / "results" / "model_eval.json"
DEFAULT_WORK = REPO_ROOT / "build" / "baseline"


@dataclass(frozen=True)
class BaselinePlan:
    """Which drives to simulate (seed, frames) for each split, and the training settings."""

    scenario: str = "urban"
    train: tuple[tuple[int, int], ...] = ((101, 70), (102, 70), (103, 70), (104, 70), (105, 70))
    val: tuple[tuple[int, int], ...] = ((201, 50),)
    test: tuple[tuple[int, int], ...] = ((301, 50), (302, 50))
    seed: int = 7
    epochs: int = 16


def _simulate(
    plan: BaselinePlan, work: Path, split: str, drives: tuple[tuple[int, int], ...]
) -> list[Path]:
    # imported here: the simulator is a backend-only dependency of this command
    from simulators.drive import write_drive
    from simulators.scenario import builtin_scenario

    scenario = builtin_scenario(plan.scenario)
    dirs = []
    for seed, frames in drives:
        out = work / f"{split}-{seed}"
        if (out / "meta.json").exists():
            log.info("reusing simulated drive %s", out)
        else:
            write_drive(scenario, frames, seed, out, overwrite=True)
        dirs.append(out)
    return dirs


def build_baseline(
    plan: BaselinePlan = BaselinePlan(),
    *,
    work: Path = DEFAULT_WORK,
    out: Path | None = None,
    report: Path = DEFAULT_REPORT,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the whole build; returns the evaluation report (also written to ``report``)."""
    out = out if out is not None else default_package_path()
    started = time.perf_counter()
    train_dirs = _simulate(plan, work, "train", plan.train)
    val_dirs = _simulate(plan, work, "val", plan.val)
    test_dirs = _simulate(plan, work, "test", plan.test)
    simulated = time.perf_counter()
    train_package(
        train_dirs,
        out,
        val_dirs=val_dirs,
        config=TrainConfig(seed=plan.seed, epochs=plan.epochs),
        cache_dir=work / "cache",
        version_prefix="baseline",
        progress=progress,
    )
    trained = time.perf_counter()
    ScoringStats.fit_package(out).save(out)
    result = evaluate_package(out, test_dirs, None, progress=progress)
    finished = time.perf_counter()
    result["build"] = {
        "scenario": plan.scenario,
        "train_drives": [list(d) for d in plan.train],
        "val_drives": [list(d) for d in plan.val],
        "test_drives": [list(d) for d in plan.test],
        "seed": plan.seed,
        "epochs": plan.epochs,
        "seconds": {
            "simulate": simulated - started,
            "train": trained - simulated,
            "evaluate": finished - trained,
        },
    }
    update_metrics(out, {"test": result["table"], "test_frames": result["frames"]})
    report.parent.mkdir(parents=True, exist_ok=True)
    tmp = report.with_name(report.name + ".tmp")
    tmp.write_text(json.dumps(json_safe(result), indent=2, allow_nan=False) + "\n")
    tmp.replace(report)
    return result
