"""The champion's runtime for active learning: the analyzer the vehicles run
(``agent.daemon.model.make_model_analyzer``: perception, then the scoring kernels) on a
registered package, its detections reduced to the candidates ``backend.annotation.active``
orders frames by (``[active] score`` as uncertainty, ``[active] candidates``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, cast

import numpy as np
import numpy.typing as npt

from backend.annotation.active import Candidates, select_candidates
from backend.config import ActiveConfig


class FrameRuntime(Protocol):
    """The champion's runtime reduced to what the order needs: points (N, 4) float32 in, the
    frame's candidates out."""

    @property
    def version(self) -> str: ...

    def __call__(self, points: npt.NDArray[np.float32]) -> Candidates: ...


@dataclass
class _VehicleRuntime:
    """The vehicle's analyzer of one package (perception then scoring) and the candidate rule."""

    version: str
    analyze: Callable[[npt.NDArray[np.float32]], object]
    score: str
    foreground_only: bool

    def __call__(self, points: npt.NDArray[np.float32]) -> Candidates:
        from agent.daemon.analysis import Analysis

        analysis = cast(Analysis, self.analyze(points))
        dets = analysis.detections
        embeddings = np.asarray(analysis.embeddings, dtype=np.float32)
        return select_candidates(
            [d.class_name for d in dets],
            [d.scores[self.score] for d in dets],
            embeddings.reshape(len(dets), -1) if dets else np.zeros((0, 0), np.float32),
            foreground_only=self.foreground_only,
        )


def vehicle_runtime(package_dir: Path, config: ActiveConfig) -> FrameRuntime:
    """The runtime the vehicles run (``agent.daemon.model.make_model_analyzer``) on the package
    in ``package_dir``, reduced to candidates by ``config`` (``score``, ``candidates``)."""
    from agent.config import PerceptionConfig
    from agent.daemon.model import make_model_analyzer

    analyzer = make_model_analyzer(PerceptionConfig(package=str(package_dir), device=config.device))
    return _VehicleRuntime(
        analyzer.model_version, analyzer.analyze, config.score, config.candidates == "foreground"
    )
