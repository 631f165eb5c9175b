"""Near-duplicate suppression: a frame too similar to a recently kept one is not kept again.

Similarity is the cosine between frame embeddings (the mean of the detection embeddings, see
``frame_embedding``); "recent" is a window of capture time, so one stroller crossing slowly in
front of the car fills at most one slot per window instead of the whole budget.
"""

from __future__ import annotations

from collections import deque

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
