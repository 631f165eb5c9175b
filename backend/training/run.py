"""One training run, end to end: candidates -> training -> ONNX export -> model package."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from agent.perception.package import ModelPackage
from agent.perception.preprocess import PipelineParams
from backend.errors import TrainingError
from backend.paths import portable_path
from backend.training.candidates import CandidateSet, build_candidates, dataset_digest
from backend.training.package import write_package
from backend.training.train import TrainConfig, train
from core.classes import BACKGROUND, COMMON_CLASSES

log = logging.getLogger(__name__)

#: the model's classes: background first, then the common classes; rare ones are never trained
MODEL_CLASSES: tuple[str, ...] = (BACKGROUND, *COMMON_CLASSES)
#: every VAL_EVERY-th frame is held out for validation when no validation set is given
VAL_EVERY = 7


def preprocessing_digest() -> str:
    """SHA-256 over the source of the pre-processing stages (ground, clustering, box fit,
    sampling): a cached candidate file made by other code is never reused."""
    import agent.perception as perception

    digest = hashlib.sha256()
    for path in sorted(Path(perception.__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _candidates(
    roots: Sequence[str | os.PathLike[str]],
    params: PipelineParams,
    cache_dir: Path | None,
    progress: bool,
) -> CandidateSet:
    parts = []
    code = preprocessing_digest() if cache_dir is not None else ""
    for root in roots:
        cache = None
        if cache_dir is not None:
            key = hashlib.sha256(
                (
                    dataset_digest([root]) + json.dumps(params.to_json(), sort_keys=True) + code
                ).encode()
            ).hexdigest()[:16]
            cache = cache_dir / f"candidates-{key}.npz"
        parts.append(build_candidates(root, params, MODEL_CLASSES, cache=cache, progress=progress))
    return CandidateSet.concat(parts)


def train_package(
    train_dirs: Sequence[str | os.PathLike[str]],
    out: Path,
    *,
    val_dirs: Sequence[str | os.PathLike[str]] = (),
    config: TrainConfig | None = None,
    params: PipelineParams | None = None,
    cache_dir: Path | None = None,
    version_prefix: str = "model",
    progress: bool = True,
) -> ModelPackage:
    """Train on the datasets ``train_dirs`` and write the package to ``out``.

    Without ``val_dirs`` every ``VAL_EVERY``-th frame of the training data is held out.
    """
    if not train_dirs:
        raise TrainingError("no training datasets given")
    config = config or TrainConfig()
    params = params or PipelineParams()
    data = _candidates(train_dirs, params, cache_dir, progress)
    if val_dirs:
        train_set, val_set = data, _candidates(val_dirs, params, cache_dir, progress)
    else:
        held = data.frame % VAL_EVERY == 0
        train_set, val_set = data.take(~held), data.take(held)
    counts = np.bincount(train_set.labels, minlength=len(MODEL_CLASSES))
    log.info(
        "training candidates per class: %s", dict(zip(MODEL_CLASSES, counts.tolist(), strict=True))
    )
    if counts[1:].sum() == 0:
        raise TrainingError(f"{list(map(str, train_dirs))}: no candidate matches a labelled object")
    result = train(
        train_set,
        len(MODEL_CLASSES),
        config,
        val=val_set if len(val_set) else None,
        progress=progress,
    )
    digest = dataset_digest(train_dirs)
    metrics = {k: v for k, v in result.history[-1].items() if k != "epoch"}
    training = {
        "dataset_digest": digest,
        "datasets": [portable_path(d) for d in train_dirs],
        "validation": [portable_path(d) for d in val_dirs],
        "epochs": config.epochs,
        "candidates_per_class": dict(zip(MODEL_CLASSES, counts.tolist(), strict=True)),
        "history": result.history,
    }
    version = f"{version_prefix}-{digest[:12]}-s{config.seed}"
    return write_package(
        out,
        model=result.model,
        config=config,
        params=params,
        classes=MODEL_CLASSES,
        train_set=train_set,
        val_set=val_set,
        training=training,
        metrics=metrics,
        version=version,
    )
