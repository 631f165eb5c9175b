"""train -> export -> load -> run -> evaluate on a tiny synthetic dataset, plus labelling rules."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from agent.perception.package import ModelPackage
from agent.perception.preprocess import PipelineParams, Preprocessor
from agent.scoring import ScoringStats
from backend.cli import main
from backend.errors import TrainingError
from backend.training.candidates import DROPPED, label_candidates
from backend.training.run import MODEL_CLASSES
from tests.agent.perception.synthetic import make_frame


def test_package_contents(tiny_package: Path) -> None:
    package = ModelPackage.load(tiny_package)
    meta = package.metadata
    assert len(meta["training"]["dataset_digest"]) == 64
    assert meta["training"]["onnx_max_abs_diff"] < 1e-4
    # the deer were dropped, never counted as background or anything else
    assert (
        sum(meta["training"]["candidates_per_class"].values())
        == meta["training"]["train_candidates"]
    )
    with np.load(package.embeddings_path) as z:
        assert z["train_embeddings"].shape[1] == package.embedding_dim
        assert z["val_logits"].shape[1:] == (package.ensemble_size, len(package.class_names))
        assert z["val_embeddings"].shape[0] == z["val_labels"].shape[0] == z["val_logits"].shape[0]
    # the scoring engineer's kernels can fit on these materials
    ScoringStats.fit_package(tiny_package)


def test_rare_candidates_are_dropped_not_background() -> None:
    points, labels = make_frame(np.random.default_rng(3), 0, objects=3)
    cand = Preprocessor(PipelineParams())(points)
    classes = ["deer" if o.class_name == "pedestrian" else o.class_name for o in labels.objects]
    got, targets = label_candidates(cand, labels.boxes(), classes, MODEL_CLASSES, points)
    assert (got == DROPPED).sum() == 1
    assert (got == MODEL_CLASSES.index("car")).sum() == 1
    assert (got == MODEL_CLASSES.index("cyclist")).sum() == 1
    assert not targets[got <= 0].any()


def test_cli_eval_writes_report(tiny_package: Path, tmp_path: Path) -> None:
    data = tiny_package.parent / "val"
    out = tmp_path / "eval.json"
    assert (
        main(
            [
                "model",
                "eval",
                "--package",
                str(tiny_package),
                "--data",
                str(data),
                "--out",
                str(out),
                "--cpu",
            ]
        )
        == 0
    )
    report = json.loads(out.read_text())
    assert {row["class"] for row in report["table"]} == {
        "car",
        "truck",
        "bus",
        "pedestrian",
        "cyclist",
    }
    assert report["frames"] == 1
    assert set(report["per_class"]["car"]) == {"bev", "3d"}


def test_training_refuses_empty_input(tmp_path: Path) -> None:
    from backend.training.run import train_package

    with pytest.raises(TrainingError):
        train_package([], tmp_path / "pkg")
    assert (
        main(["model", "train", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "p")])
        == 2
    )


def test_cli_train_writes_a_loadable_package(tiny_package: Path, tmp_path: Path) -> None:
    data = tiny_package.parent / "train"
    out = tmp_path / "cli-pkg"
    args = [
        "model",
        "train",
        "--data",
        str(data),
        "--out",
        str(out),
        "--seed",
        "3",
        "--epochs",
        "1",
    ]
    assert main(args) == 0
    package = ModelPackage.load(out)
    assert package.metadata["training"]["seed"] == 3
    assert package.version.endswith("-s3")
    # without --val every 7th frame is held out: frame 0 of 3 here
    assert package.metadata["training"]["val_candidates"] > 0
