"""The production analyzer: the perception model followed by the scoring kernels.

``ModelAnalyzer`` turns the model's detections and the scorer's outputs into what selection and
upload need: per detection the class, its confidence (the ensemble-mean probability of that
class, as perception reports it), the box and every raw score plus its calibrated tail
probability (``<name>`` and ``<name>_tail``); per frame ``score`` = 1 - p-value (in [0, 1],
higher = more anomalous), ``p_value`` and ``surprise`` (-log10 p).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Protocol, cast

import numpy as np
import numpy.typing as npt

from agent.config import PerceptionConfig
from agent.daemon.analysis import Analysis
from agent.errors import ModelPackageError
from agent.scoring import SCORE_NAMES, Device, Scorer, ScoringStats, make_scorer
from agent.selection.signals import DetectionFacts
from core.errors import ConfigError

FRAME_SCORE_NAMES = ("score", "p_value", "surprise")


class ModelDetections(Protocol):
    """The part of ``agent.perception.pipeline.Detections`` the agent uses (N detections,
    M ensemble members, K classes)."""

    @property
    def boxes(self) -> npt.NDArray[np.float32]: ...  # (N, 7) metres, radians

    @property
    def class_names(self) -> tuple[str, ...]: ...  # (N,)

    @property
    def scores(self) -> npt.NDArray[np.float64]: ...  # (N,) ensemble-mean class probability

    @property
    def logits(self) -> npt.NDArray[np.float32]: ...  # (N, M, K)

    @property
    def embeddings(self) -> npt.NDArray[np.float32]: ...  # (N, D)

    @property
    def num_points(self) -> npt.NDArray[np.int32]: ...  # (N,)


class PerceptionRunner(Protocol):
    """``agent.perception.pipeline.Perception``: callable on points, with per-stage timings."""

    @property
    def timings_ms(self) -> dict[str, float]: ...

    def __call__(self, points: npt.NDArray[np.float32]) -> ModelDetections: ...


class ModelAnalyzer:
    """Runs ``perception`` then ``scorer`` on a frame (see the module docstring for the output)."""

    frame_score_names = FRAME_SCORE_NAMES

    def __init__(
        self,
        perception: PerceptionRunner,
        scorer: Scorer,
        *,
        model_version: str,
        class_names: tuple[str, ...],
    ) -> None:
        self._perception = perception
        self._scorer = scorer
        self.model_version = model_version
        self.class_names = class_names
        self.detection_score_names = tuple(SCORE_NAMES) + tuple(f"{n}_tail" for n in SCORE_NAMES)

    def analyze(self, points: npt.NDArray[np.float32]) -> Analysis:
        started = time.perf_counter()
        dets = self._perception(points)
        perceived = time.perf_counter()
        scores = self._scorer.score(dets.logits, dets.embeddings)
        frame = self._scorer.frame_score(scores)
        scored = time.perf_counter()
        facts = []
        for i, name in enumerate(dets.class_names):
            per: dict[str, float] = {}
            for score in SCORE_NAMES:
                per[score] = float(scores.raw[score][i])
                per[f"{score}_tail"] = float(scores.tail[score][i])
            x, y, z, length, width, height, yaw = (float(v) for v in dets.boxes[i][:7])
            facts.append(
                DetectionFacts(
                    class_name=str(name),
                    confidence=float(dets.scores[i]),
                    box=(x, y, z, length, width, height, yaw),
                    num_points=int(dets.num_points[i]),
                    scores=per,
                )
            )
        timings = {"perception": perceived - started, "scoring": scored - perceived}
        # the model's own stages (ground, cluster, ..., network, post) come in milliseconds
        timings.update({stage: ms / 1e3 for stage, ms in self._perception.timings_ms.items()})
        return Analysis(
            detections=facts,
            embeddings=np.asarray(dets.embeddings, dtype=np.float32),
            frame_scores={
                "score": 1.0 - frame.p_value,
                "p_value": frame.p_value,
                "surprise": frame.surprise,
            },
            timings_s=timings,
        )


def make_model_analyzer(config: PerceptionConfig) -> ModelAnalyzer:
    """The default ``perception.factory``: the model package (``perception.package`` or the
    packaged baseline), its scoring statistics (``perception.scoring_stats`` or the package's
    ``scoring.npz``), scoring on ``perception.device``; ``perception.options`` go to
    ``Perception`` (e.g. ``intra_op_threads``). Heavy imports happen here, not at import time."""
    from agent.perception.package import ModelPackage, default_package_path
    from agent.perception.pipeline import Perception

    package_path = Path(config.package) if config.package else default_package_path()
    stats_path = Path(config.scoring_stats) if config.scoring_stats else package_path
    try:
        package = ModelPackage.load(package_path)
        stats = ScoringStats.load(stats_path)
    except ModelPackageError as exc:
        raise ConfigError(f"perception.package: {exc}") from exc
    scorer = make_scorer(stats, device=cast(Device, config.device))
    options = dict(config.options)
    if config.device == "cpu":
        options.setdefault("providers", ["CPUExecutionProvider"])
    perception = Perception(package, **options)
    return ModelAnalyzer(
        perception,
        scorer,
        model_version=package.version,
        class_names=package.class_names,
    )
