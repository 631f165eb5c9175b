"""Hand-made drive records for the selection benchmark's tests."""

from __future__ import annotations

import numpy as np

from agent.scoring import SCORE_NAMES
from benchmarks.selection_drives import DriveScores

#: the class names of the records' class ids
CLASSES = ("background", "car", "pedestrian")


def drive(
    per_frame: list[list[tuple[float, int, str]]],
    rare_points: list[int],
    tracks: list[list[int]] | None = None,
    objects: list[list[tuple[int, str, int, float]]] | None = None,
) -> DriveScores:
    """Records of a drive whose frame f holds detections ``(score, class id, rare class)``; the
    score is put in every raw score column and ``exp(-score)`` in every tail. ``tracks`` gives
    each detection's rare track id (default: 1 on a rare class, else -1) and ``objects`` each
    frame's rare objects ``(track, class, points, range)`` (default none)."""
    flat = [d for frame in per_frame for d in frame]
    score = np.array([d[0] for d in flat], dtype=np.float64)
    names = np.array([d[2] for d in flat], dtype="U32")
    track = (
        np.array([t for frame in tracks for t in frame], dtype=np.int64)
        if tracks is not None
        else np.where(names != "", 1, -1).astype(np.int64)
    )
    objs = objects if objects is not None else [[] for _ in per_frame]
    flat_obj = [o for frame in objs for o in frame]
    n = len(flat)
    return DriveScores(
        offsets=np.concatenate([[0], np.cumsum([len(f) for f in per_frame])]).astype(np.int64),
        raw=np.repeat(score[:, None], len(SCORE_NAMES), axis=1),
        tail=np.repeat(np.exp(-score)[:, None], len(SCORE_NAMES), axis=1),
        class_ids=np.array([d[1] for d in flat], dtype=np.int64),
        on_rare=names != "",
        rare_class=names,
        rare_points=np.array(rare_points, dtype=np.int64),
        num_points=np.full(len(per_frame), 1000, dtype=np.int64),
        rare_track=track,
        boxes=np.zeros((n, 7), dtype=np.float32),
        confidence=np.full(n, 0.9),
        det_points=np.full(n, 50, dtype=np.int64),
        gt_class=names,
        pose=np.zeros((len(per_frame), 6)),
        obj_offsets=np.concatenate([[0], np.cumsum([len(f) for f in objs])]).astype(np.int64),
        obj_track=np.array([o[0] for o in flat_obj], dtype=np.int64),
        obj_class=np.array([o[1] for o in flat_obj], dtype="U32"),
        obj_points=np.array([o[2] for o in flat_obj], dtype=np.int64),
        obj_range=np.array([o[3] for o in flat_obj], dtype=np.float64),
        cpu_s=0.0,
    )
