"""Near-duplicate suppression: a frame too similar to a recently kept one is not kept again.

Similarity is the cosine between frame embeddings (the mean of the detection embeddings, see
``frame_embedding``); "recent" is a window of capture time, so one stroller crossing slowly in
front of the car fills at most one slot per window instead of the whole budget.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt


def frame_embedding(embeddings: npt.NDArray[np.floating]) -> npt.NDArray[np.float32] | None:
    """Unit-length mean of the per-detection embeddings ``(N, D)``; None without detections."""
    if embeddings.ndim != 2 or embeddings.shape[0] == 0:
        return None
    mean = embeddings.astype(np.float32).mean(axis=0)
    norm = float(np.linalg.norm(mean))
    if not np.isfinite(norm) or norm == 0.0:
        return None
    unit: npt.NDArray[np.float32] = mean / norm
    return unit


class NearDuplicateFilter:
    """Remembers the embeddings of the last ``capacity`` kept frames within ``window_s`` seconds."""

    def __init__(self, threshold: float, window_s: float, capacity: int = 64) -> None:
        self.threshold = threshold
        self.window_s = window_s
        self._recent: deque[tuple[float, npt.NDArray[np.float32]]] = deque(maxlen=capacity)

    def is_duplicate(self, embedding: npt.NDArray[np.float32] | None, now_s: float) -> bool:
        """True when ``embedding`` has cosine >= threshold with a frame kept in the window."""
        while self._recent and now_s - self._recent[0][0] > self.window_s:
            self._recent.popleft()
        if embedding is None or not self._recent or self.threshold > 1.0:
            return False
        stacked = np.stack([e for _, e in self._recent])
        return bool((stacked @ embedding).max() >= self.threshold)

    def remember(self, embedding: npt.NDArray[np.float32] | None, now_s: float) -> None:
        if embedding is not None:
            self._recent.append((now_s, embedding))


class PlaceFilter:
    """One triggered upload per place: a frame whose trigger lies within ``radius_m`` (world
    frame, metres) of a trigger kept less than ``window_s`` seconds ago is a duplicate.

    A stroller crossing for ten seconds, or debris the vehicle drives past, stays in one place
    while the vehicle moves; its first good frame (with its context clip) is uploaded and the
    budget goes to other events. ``radius_m <= 0`` disables the filter.
    """

    def __init__(self, radius_m: float, window_s: float, capacity: int = 256) -> None:
        self.radius_m = radius_m
        self.window_s = window_s
        self._recent: deque[tuple[float, float, float]] = deque(maxlen=capacity)

    def is_duplicate(self, place: tuple[float, float] | None, now_s: float) -> bool:
        """True when ``place`` (world x, y) is within the radius of a place kept in the window."""
        while self._recent and now_s - self._recent[0][0] > self.window_s:
            self._recent.popleft()
        if place is None or self.radius_m <= 0 or not self._recent:
            return False
        r2 = self.radius_m * self.radius_m
        return any((x - place[0]) ** 2 + (y - place[1]) ** 2 <= r2 for _, x, y in self._recent)

    def remember(self, place: tuple[float, float] | None, now_s: float) -> None:
        if place is not None:
            self._recent.append((now_s, place[0], place[1]))


def trigger_place(
    boxes_xy: Sequence[tuple[float, float]],
    surprise: Sequence[float],
    pose: Sequence[float],
) -> tuple[float, float] | None:
    """Where a frame's trigger lies: the world (x, y) of its most surprising detection (largest
    ``surprise``, e.g. ``-log`` of its smallest calibrated tail), from box centres in the sensor
    frame and the sensor pose (x, y, z, roll, pitch, yaw). None without detections."""
    if not boxes_xy:
        return None
    i = max(range(len(boxes_xy)), key=lambda k: surprise[k])
    x, y = boxes_xy[i]
    c, s = math.cos(pose[5]), math.sin(pose[5])
    return pose[0] + c * x - s * y, pose[1] + s * x + c * y
