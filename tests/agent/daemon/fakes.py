"""A deterministic analyzer for daemon tests, pluggable by ``perception.factory``.

It "detects" one pedestrian per frame whose confidence is ``1 - mean intensity`` of the points,
and reports the mean intensity as the frame score ``frame.score``; so a test controls exactly
which frames fire ``min_confidence.pedestrian < 0.5`` by the intensities it writes. The embedding
is the frame index on a circle, so consecutive frames are similar and distant ones are not.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from agent.daemon.analysis import Analysis
from agent.daemon.sources import SourceFrame
from agent.selection.signals import DetectionFacts


class IntensityAnalyzer:
    """See the module docstring."""

    model_version = "fake-intensity-1"
    class_names = ("car", "pedestrian", "cyclist")
    detection_score_names = ("entropy",)
    frame_score_names = ("score",)

    def __init__(self, embedding_from_x: bool = False) -> None:
        self.embedding_from_x = embedding_from_x
        self.calls = 0

    def analyze(self, points: npt.NDArray[np.float32]) -> Analysis:
        self.calls += 1
        mean_intensity = float(points[:, 3].mean()) if len(points) else 0.0
        confidence = 1.0 - mean_intensity
        # direction from the mean x coordinate: frames with the same x look alike to dedup
        angle = float(points[:, 0].mean()) if len(points) else 0.0
        embedding = np.array([[math.cos(angle), math.sin(angle), 0.0]], dtype=np.float32)
        detection = DetectionFacts(
            class_name="pedestrian",
            confidence=confidence,
            box=(5.0, 1.0, 0.0, 0.8, 0.6, 1.7, 0.1),
            num_points=len(points),
            scores={"entropy": mean_intensity, "entropy_tail": 1.0 - mean_intensity},
        )
        return Analysis(
            detections=[detection],
            embeddings=embedding,
            frame_scores={"score": mean_intensity},
            timings_s={"perception": 0.001, "scoring": 0.0005},
        )


def make_intensity_analyzer(config: Any) -> IntensityAnalyzer:
    """The ``perception.factory`` entry point (the perception config is not needed)."""
    return IntensityAnalyzer()


class ListSource:
    """A live-like source built by ``source.factory``: ``count`` frames, every ``every``-th one
    interesting, with a brake signal on the interesting ones."""

    vehicle_signal_names = ("brake",)

    def __init__(self, count: int, every: int) -> None:
        from agent.daemon.sources import SensorDescription

        self.sensor = SensorDescription("sim", 16, 50.0)
        self.count = count
        self.every = every
        self.closed = False

    def frames(self) -> Iterator[SourceFrame]:
        from tests.agent.daemon.drive import frame_points

        for i in range(self.count):
            hot = i % self.every == 0
            yield SourceFrame(
                index=i,
                timestamp_ns=i * 100_000_000,
                points=frame_points(i, hot, 200),
                vehicle={"brake": 1.0 if hot else 0.0},
            )

    def close(self) -> None:
        self.closed = True


def make_list_source(count: int = 10, every: int = 3) -> ListSource:
    """The ``source.factory`` entry point; ``source.options`` become these keyword arguments."""
    return ListSource(count, every)
