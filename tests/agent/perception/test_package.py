"""Package validation and the runtime on a tiny freshly trained package."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from agent.errors import ModelPackageError
from agent.perception.network import CPU, CUDA, select_providers
from agent.perception.package import ModelPackage, default_package_path
from agent.perception.pipeline import STAGES, Perception
from core.errors import ConfigError, FormatError
from tests.agent.perception.synthetic import make_frame


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_load_and_run(tiny_package: Path) -> None:
    package = ModelPackage.load(tiny_package)
    assert package.class_names[0] == "background"
    perception = Perception(package, providers=[CPU])
    points, _ = make_frame(np.random.default_rng(7), 0)
    det = perception(points)
    n, m, k, d = len(det), package.ensemble_size, len(package.class_names), package.embedding_dim
    assert n > 0
    assert det.boxes.shape == (n, 7) and det.boxes.dtype == np.float32
    assert det.logits.shape == (n, m, k) and det.embeddings.shape == (n, d)
    assert det.num_points.dtype == np.int32 and (det.num_points >= package.params.min_points).all()
    assert len(det.class_names) == n and det.classes == package.class_names
    assert all(
        det.classes[i] == name for i, name in zip(det.class_ids, det.class_names, strict=True)
    )
    assert set(perception.timings_ms) == set(STAGES)
    assert all(v >= 0 for v in perception.timings_ms.values())
    empty = perception(np.zeros((0, 4), dtype=np.float32))
    assert len(empty) == 0 and empty.logits.shape == (0, m, k)


def test_missing_file_is_named(tiny_package: Path, tmp_path: Path) -> None:
    pkg = _copy(tiny_package, tmp_path / "p")
    (pkg / "embeddings.npz").unlink()
    with pytest.raises(ModelPackageError, match=r"embeddings\.npz"):
        ModelPackage.load(pkg)
    with pytest.raises(ModelPackageError, match="does not exist"):
        ModelPackage.load(tmp_path / "nothing")


def test_metadata_problems_are_named(tiny_package: Path, tmp_path: Path) -> None:
    pkg = _copy(tiny_package, tmp_path / "p")
    meta = json.loads((pkg / "metadata.json").read_text())
    del meta["embedding_dim"]
    (pkg / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ModelPackageError, match="embedding_dim"):
        ModelPackage.load(pkg)


def test_graph_that_disagrees_with_metadata(tiny_package: Path, tmp_path: Path) -> None:
    pkg = _copy(tiny_package, tmp_path / "p")
    meta = json.loads((pkg / "metadata.json").read_text())
    meta["ensemble_size"] += 1
    meta["outputs"]["logits"][1] += 1  # consistent metadata, but the graph says otherwise
    (pkg / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ModelPackageError, match="logits"):
        ModelPackage.load(pkg)
    (pkg / "model.onnx").write_bytes(b"not a graph")
    with pytest.raises(ModelPackageError, match=r"model\.onnx"):
        ModelPackage.load(pkg)


def test_provider_selection_always_ends_on_cpu() -> None:
    assert select_providers([CPU]) == [CPU]
    chosen = select_providers(None)
    assert chosen[-1] == CPU and set(chosen) <= {CUDA, CPU}
    assert select_providers(["NoSuchExecutionProvider"]) == [CPU]


def test_default_package_path_points_into_agent_models() -> None:
    path = default_package_path()
    assert path.parts[-3:] == ("agent", "models", "baseline")


def test_bad_inputs_are_refused(tiny_package: Path) -> None:
    package = ModelPackage.load(tiny_package)
    with pytest.raises(ConfigError, match="intra_op_threads"):
        Perception(package, intra_op_threads=0)
    with pytest.raises(FormatError, match=r"\(N, 4\)"):
        Perception(package, providers=[CPU])(np.zeros((10, 3), dtype=np.float32))


def test_shipped_baseline_loads_runs_and_stays_small() -> None:
    path = default_package_path()
    package = ModelPackage.load(path)
    assert sum(f.stat().st_size for f in path.iterdir()) < 5 * 2**20
    assert package.metadata["training"]["seed"] == 7
    det = Perception(package, providers=[CPU])(make_frame(np.random.default_rng(8), 0)[0])
    assert det.logits.shape[1:] == (package.ensemble_size, len(package.class_names))
