"""The production analyzer over the real scoring kernels, with a stand-in perception output."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from agent.config import PerceptionConfig
from agent.daemon.model import ModelAnalyzer, ModelDetections, make_model_analyzer
from agent.scoring import SCORE_NAMES, ScoringStats, make_scorer
from core.errors import ConfigError

K, M, D = 3, 2, 8


@dataclass(frozen=True)
class Dets:
    boxes: npt.NDArray[np.float32]
    class_names: tuple[str, ...]
    scores: npt.NDArray[np.float64]
    logits: npt.NDArray[np.float32]
    embeddings: npt.NDArray[np.float32]
    num_points: npt.NDArray[np.int32]


class FixedPerception:
    """Returns the same detections for any frame, with stage timings like the real runtime."""

    def __init__(self, dets: Dets) -> None:
        self.dets = dets
        self.timings_ms = {"ground": 1.5, "network": 4.0}

    def __call__(self, points: npt.NDArray[np.float32]) -> ModelDetections:
        return self.dets


def test_detections_carry_every_score_and_the_frame_is_ranked() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 5, size=(K, D))
    labels = rng.integers(0, K, size=400)
    train = centres[labels] + rng.normal(0, 0.3, size=(400, D))
    val_labels = rng.integers(0, K, size=200)
    val_emb = centres[val_labels] + rng.normal(0, 0.3, size=(200, D))
    val_logits = np.full((200, M, K), -3.0, dtype=np.float32)
    val_logits[np.arange(200), :, val_labels] = 3.0
    stats = ScoringStats.fit(train, labels, val_logits, val_emb, k=5, n_quantiles=50)
    scorer = make_scorer(stats, device="cpu")

    typical = centres[0] + rng.normal(0, 0.3, size=D)
    odd = rng.normal(0, 40, size=D)  # far from every class
    logits = np.array([[[3.0, -3, -3]] * M, [[0.1, 0.0, 0.05]] * M], dtype=np.float32)
    dets = Dets(
        boxes=np.array([[1, 2, 0, 4, 2, 1.5, 0.1], [5, 0, 0, 0.8, 0.6, 1.7, 0.0]], np.float32),
        class_names=("car", "pedestrian"),
        scores=np.array([0.99, 0.36]),
        logits=logits,
        embeddings=np.stack([typical, odd]).astype(np.float32),
        num_points=np.array([300, 12], np.int32),
    )
    analyzer = ModelAnalyzer(
        FixedPerception(dets),
        scorer,
        model_version="m1",
        class_names=("car", "pedestrian", "cyclist"),
    )
    result = analyzer.analyze(np.zeros((10, 4), dtype=np.float32))
    car, ped = result.detections
    assert (car.class_name, ped.class_name) == ("car", "pedestrian")
    assert (car.confidence, ped.confidence) == (0.99, 0.36)
    assert set(car.scores) == set(analyzer.detection_score_names)
    assert len(analyzer.detection_score_names) == 2 * len(SCORE_NAMES)
    assert ped.scores["mahalanobis"] > car.scores["mahalanobis"]
    assert ped.scores["mahalanobis_tail"] < car.scores["mahalanobis_tail"]
    assert ped.box == pytest.approx((5, 0, 0, 0.8, 0.6, 1.7, 0.0))
    assert ped.num_points == 12
    assert 0.0 <= result.frame_scores["score"] <= 1.0
    assert result.frame_scores["score"] == pytest.approx(1 - result.frame_scores["p_value"])
    assert result.frame_scores["score"] > 0.9  # the odd detection makes the frame unusual
    assert set(result.timings_s) == {"perception", "scoring", "ground", "network"}
    assert result.timings_s["network"] == pytest.approx(0.004)


def test_a_missing_model_package_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"perception\.package: .*does not exist"):
        make_model_analyzer(PerceptionConfig(package=str(tmp_path / "nope")))
