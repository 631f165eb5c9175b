"""``longtail model build-baseline``: the shipped baseline, reproducibly, from simulated drives.

Reads the split file that ``longtail sim training-drives`` wrote (``splits.json``: which drive
directories are train, val and test), trains with a fixed seed, evaluates on the test drives,
writes the package (with its scoring statistics) to ``out`` and the evaluation to ``report``.
The caller names every path: nothing is written into the source tree behind its back.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.scoring import ScoringStats
from backend.errors import TrainingError
from backend.evaluation.algo import json_safe
from backend.evaluation.run import evaluate_package
from backend.training.package import update_metrics
from backend.training.run import train_package
from backend.training.train import TrainConfig
from core.formats.atomic import atomic_write_bytes

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class BaselineSettings:
    """The training settings of the baseline build."""

    seed: int = 7
    epochs: int = 16
    threads: int = 2  #: PyTorch threads (the weights do not depend on it beyond float rounding)


def read_splits(path: Path) -> dict[str, list[Path]]:
    """The drive directories of each split in a ``splits.json`` (relative to its folder)."""
    try:
        document = json.loads(Path(path).read_text())
        splits = document["splits"]
        found = {name: [Path(path).parent / d for d in splits[name]] for name in SPLITS}
    except FileNotFoundError:
        raise TrainingError(
            f"{path}: no split file; run `longtail sim training-drives --out {Path(path).parent}`"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TrainingError(f"{path}: not a split file with {', '.join(SPLITS)}: {exc}") from exc
    for name, dirs in found.items():
        if not dirs:
            raise TrainingError(f"{path}: split {name!r} lists no drive")
        missing = [str(d) for d in dirs if not (d / "meta.json").is_file()]
        if missing:
            raise TrainingError(f"{path}: split {name!r} names missing drives {missing}")
    return found


def build_baseline(
    splits_file: Path,
    out: Path,
    report: Path,
    *,
    settings: BaselineSettings = BaselineSettings(),
    cache_dir: Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train, evaluate and package; returns the evaluation report (also written to ``report``)."""
    splits = read_splits(splits_file)
    started = time.perf_counter()
    train_package(
        splits["train"],
        out,
        val_dirs=splits["val"],
        config=TrainConfig(seed=settings.seed, epochs=settings.epochs, threads=settings.threads),
        cache_dir=cache_dir,
        version_prefix="baseline",
        progress=progress,
    )
    trained = time.perf_counter()
    ScoringStats.fit_package(out).save(out)
    result = evaluate_package(out, splits["test"], None, progress=progress)
    finished = time.perf_counter()
    result["build"] = {
        "splits": {name: [d.name for d in dirs] for name, dirs in splits.items()},
        "seed": settings.seed,
        "epochs": settings.epochs,
        "seconds": {"train": trained - started, "evaluate": finished - trained},
    }
    update_metrics(out, {"test": result["table"], "test_frames": result["frames"]})
    text = json.dumps(json_safe(result), indent=2, allow_nan=False) + "\n"
    atomic_write_bytes(report, text.encode())
    return result
