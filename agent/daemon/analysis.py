"""The analysis stage as the pipeline sees it: points in, detections with scores out.

The production implementation (``agent.daemon.model``) runs the perception model and the scoring
kernels; tests and offline tools may plug any object with this shape through
``perception.factory``, called as ``factory(perception_config)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from agent.selection.signals import DetectionFacts


@dataclass(frozen=True)
class Analysis:
    """Result for one frame. ``embeddings`` is ``(len(detections), D)`` float32; ``frame_scores``
    holds frame-level scores by name (``"score"`` in [0, 1] ranks frames); ``timings_s`` the
    seconds each internal stage took (e.g. ``perception``, ``scoring``)."""

    detections: Sequence[DetectionFacts]
    embeddings: npt.NDArray[np.float32]
    frame_scores: Mapping[str, float]
    timings_s: Mapping[str, float] = field(default_factory=dict)


class Analyzer(Protocol):
    """Perception + scoring. The names declare which signals rules may use (fixed at start-up)."""

    @property
    def model_version(self) -> str: ...

    @property
    def class_names(self) -> tuple[str, ...]: ...

    @property
    def detection_score_names(self) -> tuple[str, ...]: ...

    @property
    def frame_score_names(self) -> tuple[str, ...]: ...

    def analyze(self, points: npt.NDArray[np.float32]) -> Analysis: ...
