"""Fine-tuning from a champion package: weights back from ONNX, classes grown, the new package
loads in the vehicle runtime, and the same inputs give the same weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from agent.perception.network import CPU
from agent.perception.package import ModelPackage, default_package_path
from agent.perception.pipeline import Perception
from agent.scoring import ScoringStats, make_scorer
from backend.training.candidates import build_candidates
from backend.training.finetune import (
    FinetuneConfig,
    compare_with_onnx,
    finetune,
    grow_classes,
    load_champion,
    onnx_state_dict,
    set_candidates,
    weights_digest,
)
from backend.training.sets import SetConfig, TrainingSet, build_set
from backend.training.sources import DriveSource
from core.formats.dataset import Dataset

TINY = FinetuneConfig(epochs=2, batch_size=64, threads=1, min_labels=3)


@pytest.fixture(scope="module")
def training_set(drives: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> TrainingSet:
    return build_set(
        tmp_path_factory.mktemp("sets"),
        [DriveSource(drives[k]) for k in "abc"],
        [DriveSource(drives["old"])],
        SetConfig(val_share=0.3, focus_share=0.8),
    )


def test_baseline_weights_load_back_from_onnx() -> None:
    package = ModelPackage.load(default_package_path())
    model = load_champion(package)
    assert compare_with_onnx(model, package.model_path, package.points_per_candidate) <= 1e-5
    names = onnx_state_dict(package.model_path)
    # the point MLP's weights had no name in the graph: found through their bias
    assert names["point_mlp.0.weight"].shape == (64, 4)


def test_grown_heads_score_old_classes_exactly_as_before(tiny_package: Path) -> None:
    package = ModelPackage.load(tiny_package)
    old = load_champion(package)
    before = [p.detach().clone() for p in old.parameters()]
    points = torch.from_numpy(np.random.default_rng(1).normal(0, 2, (16, 64, 4)).astype("f4"))
    features = torch.from_numpy(np.random.default_rng(2).normal(0, 1, (16, 7)).astype("f4"))
    with torch.no_grad():
        logits_before = old(points, features)[0].clone()
    classes = (*package.class_names, "deer", "dog")
    grown = grow_classes(old, package.class_names, classes, seed=0)
    with torch.no_grad():
        logits, _, _ = grown(points, features)
    k = len(package.class_names)
    assert logits.shape == (16, package.ensemble_size, k + 2)
    assert torch.equal(logits[:, :, :k], logits_before)
    # new rows differ per head and per class; the trunk is untouched
    assert not torch.equal(logits[:, 0, k], logits[:, 1, k])
    assert not torch.equal(logits[:, 0, k], logits[:, 0, k + 1])
    assert torch.equal(next(grown.parameters()), before[0])


def test_repeats_multiply_candidate_rows(tiny_package: Path, training_set: TrainingSet) -> None:
    params = ModelPackage.load(tiny_package).params
    classes = ("background", "car", "pedestrian", "cyclist", "deer")
    with_repeats = set_candidates(training_set, "train", params, classes)
    extra = 0
    for d in training_set.dirs("train"):
        plain = build_candidates(d, params, classes, progress=False)
        repeats = training_set.repeats(d)
        extra += sum((repeats[int(f)] - 1) for f in plain.frame)
    assert extra > 0
    assert (
        len(with_repeats)
        == sum(
            len(build_candidates(d, params, classes, progress=False))
            for d in training_set.dirs("train")
        )
        + extra
    )


def test_finetune_grows_classes_and_the_vehicle_runtime_loads_it(
    tiny_package: Path, training_set: TrainingSet, tmp_path: Path
) -> None:
    result = finetune(tiny_package, training_set, tmp_path / "pkg", TINY)
    assert result.promoted == ("deer",)
    assert result.classes[-1] == "deer" and result.candidates_per_class["deer"] > 0
    package = ModelPackage.load(tmp_path / "pkg")
    assert package.class_names == result.classes
    assert package.metadata["training"]["parent"] == ModelPackage.load(tiny_package).version
    assert package.metadata["training"]["dataset_digest"] == training_set.digest
    stats = ScoringStats.load(tmp_path / "pkg")
    assert stats.n_classes == len(result.classes)
    # the vehicle's perception and scoring run on it
    group = training_set.dirs("val")[0]
    points = Dataset(group).points(Dataset(group).indices[0])
    det = Perception(package, providers=[CPU])(points)
    scores = make_scorer(stats, "cpu").score(det.logits, det.embeddings)
    assert len(det) > 0 and np.isfinite(scores.raw["energy"]).all()
    # the package's ONNX weights are the weights that were trained
    assert weights_digest(load_champion(package)) == result.weights_sha256


def test_same_inputs_give_the_same_weights(
    tiny_package: Path, training_set: TrainingSet, tmp_path: Path
) -> None:
    a = finetune(tiny_package, training_set, tmp_path / "a", TINY)
    b = finetune(tiny_package, training_set, tmp_path / "b", TINY)
    assert a.weights_sha256 == b.weights_sha256
    c = finetune(
        tiny_package, training_set, tmp_path / "c", FinetuneConfig(**{**TINY.__dict__, "seed": 1})
    )
    assert c.weights_sha256 != a.weights_sha256
