"""Fine-tuning from a champion package: weights back from ONNX, classes grown, the new package
loads in the vehicle runtime, and the same inputs give the same weights."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from agent.perception.network import CPU
from agent.perception.package import ModelPackage, default_package_path
from agent.perception.pipeline import Perception
from agent.scoring import ScoringStats, make_scorer
from backend.errors import TrainingError
from backend.training.candidates import build_candidates
from backend.training.finetune import (
    FinetuneConfig,
    compare_with_onnx,
    drop_classes,
    finetune,
    grow_classes,
    load_champion,
    mean_class,
    onnx_state_dict,
    relabel,
    set_candidates,
    weights_digest,
)
from backend.training.sets import SetConfig, TrainingSet, build_set
from backend.training.sources import DriveSource
from core.formats.dataset import Dataset

#: two epochs do not teach the fixture's deer (validation recall 0): the bar at 0 keeps it, so
#: the growth path is what these tests exercise; the review has tests of its own below
TINY = FinetuneConfig(epochs=2, batch_size=64, threads=1, min_labels=3, min_val_recall=0.0)


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
    # within the relative tolerance (or it raises), and a few float32 steps of ~150 logits at most
    assert compare_with_onnx(model, package.model_path, package.points_per_candidate) < 1e-3
    names = onnx_state_dict(package.model_path)
    # the point MLP's weights had no name in the graph: found through their bias
    assert names["point_mlp.0.weight"].shape == (64, 4)


def test_a_weight_loaded_wrong_is_caught() -> None:
    package = ModelPackage.load(default_package_path())
    model = load_champion(package)
    trunk = model.trunk[0]
    assert isinstance(trunk, torch.nn.Linear)
    with torch.no_grad():
        trunk.weight[:, -1] += 0.01  # a small slip in the weights of one input feature
    with pytest.raises(TrainingError, match="differs from torch"):
        compare_with_onnx(model, package.model_path, package.points_per_candidate)


def test_grown_heads_score_old_classes_exactly_as_before(tiny_package: Path) -> None:
    package = ModelPackage.load(tiny_package)
    old = load_champion(package)
    before = [p.detach().clone() for p in old.parameters()]
    points = torch.from_numpy(np.random.default_rng(1).normal(0, 2, (16, 64, 4)).astype("f4"))
    features = torch.from_numpy(np.random.default_rng(2).normal(0, 1, (16, 7)).astype("f4"))
    with torch.no_grad():
        logits_before = old(points, features)[0].clone()
    old_rows = _last_rows(old)
    classes = (*package.class_names, "deer", "dog")
    grown = grow_classes(old, package.class_names, classes, seed=0)
    with torch.no_grad():
        logits, _, _ = grown(points, features)
    k = len(package.class_names)
    assert logits.shape == (16, package.ensemble_size, k + 2)
    # the old rows are copied bit for bit; their logits agree to float32 rounding (a wider
    # output may take another matrix-product kernel, which sums in another order)
    for (w, b), (w0, b0) in zip(_last_rows(grown), old_rows, strict=True):
        assert torch.equal(w[:k], w0) and torch.equal(b[:k], b0)
    torch.testing.assert_close(logits[:, :, :k], logits_before, rtol=1e-5, atol=1e-6)
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


def _last_rows(model: torch.nn.Module) -> list[tuple[torch.Tensor, torch.Tensor]]:
    out = []
    for head in model.heads:  # type: ignore[union-attr]
        last = head[-1]
        out.append((last.weight.detach().clone(), last.bias.detach().clone()))
    return out


def test_dropped_classes_lose_their_rows_and_nothing_else(tiny_package: Path) -> None:
    package = ModelPackage.load(tiny_package)
    classes = (*package.class_names, "deer", "dog")
    model = grow_classes(load_champion(package), package.class_names, classes, seed=0)
    before = _last_rows(model)
    points = torch.from_numpy(np.random.default_rng(1).normal(0, 2, (16, 64, 4)).astype("f4"))
    features = torch.from_numpy(np.random.default_rng(2).normal(0, 1, (16, 7)).astype("f4"))
    with torch.no_grad():
        logits_before = model(points, features)[0].clone()
    keep = (*package.class_names, "dog")
    dropped = drop_classes(model, classes, keep)
    with torch.no_grad():
        logits = dropped(points, features)[0]
    k = len(package.class_names)
    assert logits.shape[2] == k + 1
    # to float32 rounding: a narrower output may take another matrix-product kernel
    torch.testing.assert_close(logits[:, :, :k], logits_before[:, :, :k], rtol=1e-5, atol=1e-6)
    # dog moved up one row
    torch.testing.assert_close(logits[:, :, k], logits_before[:, :, k + 1], rtol=1e-5, atol=1e-6)
    for (w, b), (w0, b0) in zip(_last_rows(dropped), before, strict=True):
        assert torch.equal(w, w0[[*range(k), k + 1]]) and torch.equal(b, b0[[*range(k), k + 1]])
    with pytest.raises(Exception, match="cannot keep classes"):
        drop_classes(dropped, keep, ("car", *keep))  # background must stay first


def test_relabel_leaves_out_candidates_of_dropped_classes(
    tiny_package: Path, training_set: TrainingSet
) -> None:
    params = ModelPackage.load(tiny_package).params
    classes = ("background", "car", "pedestrian", "cyclist", "deer")
    data = set_candidates(training_set, "val", params, classes)
    assert (data.labels == 4).any()
    out = relabel(data, classes, ("background", "car", "cyclist"))
    assert len(out) == int(np.isin(data.labels, [0, 1, 3]).sum())
    kept = np.isin(data.labels, [0, 1, 3])
    assert np.array_equal(out.labels, np.array([0, 1, -1, 2])[data.labels[kept]])
    assert np.array_equal(out.points, data.points[kept])


def test_a_class_below_the_recall_bar_is_demoted_and_never_named(
    tiny_package: Path, training_set: TrainingSet, tmp_path: Path
) -> None:
    kept = finetune(tiny_package, training_set, tmp_path / "kept", TINY)
    recall = kept.val_recall["deer"]
    # what the fixture measures (two epochs do not teach deer); the bar above it must demote
    assert recall < 1.0, recall
    result = finetune(
        tiny_package, training_set, tmp_path / "demoted", replace(TINY, min_val_recall=1.0)
    )
    champion = ModelPackage.load(tiny_package).class_names
    assert result.promoted == () and result.demoted == ("deer",)
    assert result.classes == champion and "deer" not in result.val_recall
    verdict = result.promotion["verdicts"]["deer"]
    assert verdict["kept"] is False and verdict["val_recall"] == recall  # same training
    assert verdict["val_candidates"] > 0 and verdict["labels"] >= TINY.min_labels
    assert result.promotion["min_recall"] == 1.0
    package = ModelPackage.load(tmp_path / "demoted")
    assert package.class_names == champion
    assert package.metadata["training"]["promotion"]["demoted"] == ["deer"]
    assert package.metadata["training"]["ontology"]["promoted"] == ["deer"]  # it was tried
    # the package is the trained model minus the deer rows: same trunk, same other rows
    grown, shrunk = load_champion(ModelPackage.load(tmp_path / "kept")), load_champion(package)
    k = len(champion)
    for (w, b), (w0, b0) in zip(_last_rows(shrunk), _last_rows(grown), strict=True):
        assert torch.equal(w, w0[:k]) and torch.equal(b, b0[:k])
    for part in ("point_mlp", "trunk", "box_head"):
        a, b = getattr(shrunk, part).state_dict(), getattr(grown, part).state_dict()
        assert all(torch.equal(a[n], b[n]) for n in a), part
    # no deer in the package's embeddings or scoring statistics
    with np.load(tmp_path / "demoted" / "embeddings.npz") as emb:
        assert emb["train_labels"].max() < k and emb["val_logits"].shape[2] == k
    assert ScoringStats.load(tmp_path / "demoted").n_classes == k
    # what the vehicle still detects of deer, as an unknown object, read back from the package
    deer = set_candidates(training_set, "val", package.params, kept.classes)
    deer = deer.take(deer.labels == kept.classes.index("deer"))
    share = float((mean_class(shrunk, deer) > 0).mean())
    assert result.promotion["unknown_foreground_share"]["deer"] == pytest.approx(share)
