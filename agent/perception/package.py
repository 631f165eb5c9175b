"""Model packages: a directory holding the network, its metadata and the scoring materials.

::

    PKG/model.onnx       the candidate network (inputs/outputs: ``agent.perception.network``)
    PKG/metadata.json    classes, M, D, P, input/output spec, pipeline settings, training facts
    PKG/embeddings.npz   train_embeddings [B, D], train_labels [B], val_logits [V, M, K],
                         val_embeddings [V, D], val_labels [V]: what the scoring kernels fit on

``ModelPackage.load`` checks all of it and raises ``ModelPackageError`` naming the problem.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from agent.errors import ModelPackageError
from agent.perception.network import CPU, OnnxNetwork
from agent.perception.preprocess import PipelineParams
from agent.perception.sampling import FEATURE_NAMES
from core.classes import BACKGROUND

MODEL_FILE: Final = "model.onnx"
METADATA_FILE: Final = "metadata.json"
EMBEDDINGS_FILE: Final = "embeddings.npz"
FORMAT: Final = "longtail-model-package"
FORMAT_VERSION: Final = 1
REQUIRED_KEYS: Final = (
    "format",
    "format_version",
    "version",
    "created",
    "classes",
    "ensemble_size",
    "embedding_dim",
    "points_per_candidate",
    "feature_names",
    "inputs",
    "outputs",
    "pipeline",
    "postprocess",
    "training",
    "metrics",
)


def default_package_path() -> Path:
    """The baseline package shipped with the agent (``agent/models/baseline``)."""
    return Path(__file__).resolve().parent.parent / "models" / "baseline"


def expected_io(meta: dict[str, Any]) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    """Input and output shapes the graph must declare for ``meta`` (None = dynamic N)."""
    p, f = int(meta["points_per_candidate"]), len(meta["feature_names"])
    m, k, d = int(meta["ensemble_size"]), len(meta["classes"]), int(meta["embedding_dim"])
    inputs = {"points": [None, p, 4], "features": [None, f]}
    outputs = {"logits": [None, m, k], "embedding": [None, d], "box_delta": [None, 7]}
    return inputs, outputs


def _check_shapes(
    kind: str, declared: dict[str, list[Any]], want: dict[str, list[Any]], source: str
) -> None:
    if set(declared) != set(want):
        raise ModelPackageError(
            f"{source}: graph {kind} are {sorted(declared)}, metadata expects {sorted(want)}"
        )
    for name, shape in want.items():
        got = declared[name]
        fixed = [None if isinstance(v, str) or v is None else int(v) for v in got]
        if len(fixed) != len(shape) or any(
            w is not None and g != w for g, w in zip(fixed, shape, strict=True)
        ):
            raise ModelPackageError(
                f"{source}: graph {kind[:-1]} {name!r} has shape {got}, metadata says {shape}"
            )
        if fixed[0] is not None:
            raise ModelPackageError(
                f"{source}: graph {kind[:-1]} {name!r} needs a dynamic first axis, got {got}"
            )


@dataclass(frozen=True)
class ModelPackage:
    """A validated model package (see the module docstring); ``path`` is its directory."""

    path: Path
    metadata: dict[str, Any]
    params: PipelineParams

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE

    @property
    def embeddings_path(self) -> Path:
        return self.path / EMBEDDINGS_FILE

    @property
    def class_names(self) -> tuple[str, ...]:
        """The K classes of the network's outputs; index 0 is ``background``."""
        return tuple(str(c) for c in self.metadata["classes"])

    @property
    def version(self) -> str:
        return str(self.metadata["version"])

    @property
    def ensemble_size(self) -> int:
        return int(self.metadata["ensemble_size"])

    @property
    def embedding_dim(self) -> int:
        return int(self.metadata["embedding_dim"])

    @property
    def points_per_candidate(self) -> int:
        return int(self.metadata["points_per_candidate"])

    @property
    def nms_iou(self) -> float:
        """BEV IoU above which a lower-scored foreground detection is suppressed."""
        return float(self.metadata["postprocess"]["nms_iou"])

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ModelPackage:
        """Read and validate the package in directory ``path``."""
        root = Path(path)
        if not root.is_dir():
            raise ModelPackageError(f"{root}: model package directory does not exist")
        missing = [
            n for n in (MODEL_FILE, METADATA_FILE, EMBEDDINGS_FILE) if not (root / n).is_file()
        ]
        if missing:
            raise ModelPackageError(f"{root}: model package is missing {missing}")
        meta_path = root / METADATA_FILE
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError) as exc:
            raise ModelPackageError(f"{meta_path}: cannot read metadata: {exc}") from exc
        if not isinstance(meta, dict):
            raise ModelPackageError(
                f"{meta_path}: expected a JSON object, got {type(meta).__name__}"
            )
        absent = [k for k in REQUIRED_KEYS if k not in meta]
        if absent:
            raise ModelPackageError(f"{meta_path}: metadata lacks keys {absent}")
        if meta["format"] != FORMAT or meta["format_version"] != FORMAT_VERSION:
            raise ModelPackageError(
                f"{meta_path}: format {meta['format']!r} v{meta['format_version']!r} is not "
                f"{FORMAT!r} v{FORMAT_VERSION}"
            )
        classes = meta["classes"]
        if not isinstance(classes, list) or len(classes) < 2 or classes[0] != BACKGROUND:
            raise ModelPackageError(
                f"{meta_path}: classes must start with {BACKGROUND!r}, got {classes!r}"
            )
        if list(meta["feature_names"]) != list(FEATURE_NAMES):
            raise ModelPackageError(
                f"{meta_path}: feature_names {meta['feature_names']!r} differ from this runtime's "
                f"{list(FEATURE_NAMES)!r}"
            )
        params = PipelineParams.from_json(dict(meta["pipeline"]), f"{meta_path}")
        if params.points_per_candidate != int(meta["points_per_candidate"]):
            raise ModelPackageError(
                f"{meta_path}: pipeline.points_per_candidate {params.points_per_candidate} != "
                f"points_per_candidate {meta['points_per_candidate']}"
            )
        if "nms_iou" not in meta["postprocess"]:
            raise ModelPackageError(f"{meta_path}: postprocess lacks 'nms_iou'")
        inputs, outputs = expected_io(meta)
        for kind, spec in (("inputs", inputs), ("outputs", outputs)):
            stored = {k: list(v) for k, v in dict(meta[kind]).items()}
            if stored != spec:
                raise ModelPackageError(
                    f"{meta_path}: {kind} {stored} disagree with classes/M/D/P {spec}"
                )
        # the graph itself: open it on CPU once and compare its signature with the metadata
        network = OnnxNetwork(root / MODEL_FILE, providers=[CPU])
        source = str(root / MODEL_FILE)
        _check_shapes("inputs", network.input_shapes(), inputs, source)
        _check_shapes("outputs", network.output_shapes(), outputs, source)
        return cls(root, meta, params)
