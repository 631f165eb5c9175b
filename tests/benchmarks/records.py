"""Hand-made drive records for the selection benchmark's tests."""

from __future__ import annotations

import numpy as np

from agent.scoring import SCORE_NAMES
from benchmarks.selection_drives import DriveScores

#: the class names of the records' class ids
CLASSES = ("background", "car", "pedestrian")


def drive(per_frame: list[list[tuple[float, int, str]]], rare_points: list[int]) -> DriveScores:
    """Records of a drive whose frame f holds detections ``(score, class id, rare class)``; the
    score is put in every raw score column and ``exp(-score)`` in every tail."""
    flat = [d for frame in per_frame for d in frame]
    score = np.array([d[0] for d in flat], dtype=np.float64)
    names = np.array([d[2] for d in flat], dtype="U32")
    return DriveScores(
        offsets=np.concatenate([[0], np.cumsum([len(f) for f in per_frame])]).astype(np.int64),
        raw=np.repeat(score[:, None], len(SCORE_NAMES), axis=1),
        tail=np.repeat(np.exp(-score)[:, None], len(SCORE_NAMES), axis=1),
        class_ids=np.array([d[1] for d in flat], dtype=np.int64),
        on_rare=names != "",
        rare_class=names,
        rare_points=np.array(rare_points, dtype=np.int64),
        num_points=np.full(len(per_frame), 1000, dtype=np.int64),
        cpu_s=0.0,
    )
