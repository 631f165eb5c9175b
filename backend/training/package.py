"""Writing model packages (the layout and its checks live in ``agent.perception.package``).

The package is assembled in a sibling temporary directory and renamed into place, so a failed
run never leaves a half-written package where a good one was.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from agent.perception.package import (
    EMBEDDINGS_FILE,
    FORMAT,
    FORMAT_VERSION,
    METADATA_FILE,
    MODEL_FILE,
    ModelPackage,
    expected_io,
)
from agent.perception.preprocess import PipelineParams
from agent.perception.sampling import FEATURE_NAMES
from backend.evaluation.algo import json_safe
from backend.training.candidates import CandidateSet
from backend.training.export import export_onnx, verify_onnx
from backend.training.model import CandidateNet
from backend.training.train import TrainConfig, predict

#: most training embeddings stored for the scoring statistics (rows, subsampled with the seed)
MAX_TRAIN_EMBEDDINGS = 10_000
#: BEV IoU above which duplicate foreground detections are suppressed at run time
NMS_IOU = 0.1


def write_package(
    out: Path,
    *,
    model: CandidateNet,
    config: TrainConfig,
    params: PipelineParams,
    classes: tuple[str, ...],
    train_set: CandidateSet,
    val_set: CandidateSet,
    training: dict[str, Any],
    metrics: dict[str, Any],
    version: str,
) -> ModelPackage:
    """Export, verify and write the package to directory ``out``; returns it loaded."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; a package is meant to be read by others
    try:
        export_onnx(model, tmp / MODEL_FILE, params.points_per_candidate, len(FEATURE_NAMES))
        check = val_set if len(val_set) else train_set
        worst = verify_onnx(model, tmp / MODEL_FILE, check.points[:256], check.features[:256])
        rng = np.random.default_rng(config.seed)
        rows = np.sort(rng.permutation(len(train_set))[:MAX_TRAIN_EMBEDDINGS])
        sub = train_set.take(rows)
        _, train_emb, _ = predict(model, sub)
        val_logits, val_emb, _ = predict(model, val_set)
        np.savez_compressed(
            tmp / EMBEDDINGS_FILE,
            train_embeddings=train_emb.astype(np.float32),
            train_labels=sub.labels.astype(np.int64),
            val_logits=val_logits.astype(np.float32),
            val_embeddings=val_emb.astype(np.float32),
            val_labels=val_set.labels.astype(np.int64),
        )
        meta: dict[str, Any] = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "version": version,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "classes": list(classes),
            "ensemble_size": config.ensemble_size,
            "embedding_dim": config.embedding_dim,
            "points_per_candidate": params.points_per_candidate,
            "feature_names": list(FEATURE_NAMES),
            "pipeline": params.to_json(),
            "postprocess": {"nms_iou": NMS_IOU},
            "training": {
                **training,
                "seed": config.seed,
                "config": asdict(config),
                "onnx_max_abs_diff": worst,
                "train_candidates": len(train_set),
                "val_candidates": len(val_set),
            },
            "metrics": metrics,
        }
        meta["inputs"], meta["outputs"] = expected_io(meta)
        (tmp / METADATA_FILE).write_text(
            json.dumps(json_safe(meta), indent=2, allow_nan=False) + "\n"
        )
        ModelPackage.load(tmp)  # never ship a package the runtime would refuse
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return ModelPackage.load(out)


def update_metrics(package_dir: Path, metrics: dict[str, Any]) -> None:
    """Merge ``metrics`` into the package's metadata (after an evaluation run)."""
    path = Path(package_dir) / METADATA_FILE
    meta = json.loads(path.read_text())
    meta["metrics"] = json_safe({**meta.get("metrics", {}), **metrics})
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(meta, indent=2, allow_nan=False) + "\n")
    tmp.replace(path)
