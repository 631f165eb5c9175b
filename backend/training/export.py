"""Export a trained ``CandidateNet`` to ONNX (opset 17, dynamic N) and prove ONNX Runtime agrees.

The TorchScript-based exporter is used: the newer dynamo exporter needs ``onnxscript``, which is
not a dependency; its deprecation warnings are silenced here and nowhere else.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from agent.perception.network import CPU, INPUT_NAMES, OUTPUT_NAMES, OnnxNetwork
from backend.errors import TrainingError
from backend.training.model import CandidateNet

OPSET = 17


def export_onnx(
    model: CandidateNet, path: Path, points_per_candidate: int, num_features: int
) -> None:
    """Write ``model`` (eval mode) to ``path`` with a dynamic candidate axis N."""
    model.eval()
    example = (torch.zeros(2, points_per_candidate, 4), torch.zeros(2, num_features))
    dynamic = {name: {0: "N"} for name in (*INPUT_NAMES, *OUTPUT_NAMES)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", UserWarning)
        torch.onnx.export(
            model,
            example,
            str(path),
            dynamo=False,
            input_names=list(INPUT_NAMES),
            output_names=list(OUTPUT_NAMES),
            dynamic_axes=dynamic,
            opset_version=OPSET,
        )


def verify_onnx(
    model: CandidateNet,
    path: Path,
    points: np.ndarray,
    features: np.ndarray,
    *,
    atol: float = 1e-4,
    rtol: float = 1e-4,
) -> float:
    """Run ``points``/``features`` through torch and ONNX Runtime (CPU); returns the largest
    absolute difference over all outputs, raises ``TrainingError`` beyond the tolerance."""
    model.eval()
    with torch.no_grad():
        expected = [t.numpy() for t in model(torch.from_numpy(points), torch.from_numpy(features))]
    got = OnnxNetwork(path, providers=[CPU]).run(points, features)
    worst = 0.0
    for name, e, g in zip(OUTPUT_NAMES, expected, got, strict=True):
        if e.shape != g.shape:
            raise TrainingError(
                f"{path}: ONNX output {name!r} has shape {g.shape}, torch {e.shape}"
            )
        diff = float(np.abs(e - g).max()) if e.size else 0.0
        worst = max(worst, diff)
        if not np.allclose(e, g, atol=atol, rtol=rtol):
            raise TrainingError(
                f"{path}: ONNX output {name!r} differs from torch by up to {diff:.3g}"
            )
    return worst
