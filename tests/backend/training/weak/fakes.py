"""A hand-made drive for the weak-label tests: three candidates per frame from a perception
callable that returns fixed detections (no model), and the frames' points."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from agent.perception.pipeline import Detections
from backend.training.weak.observe import DriveFrame
from core.formats.dataset import DatasetWriter, FrameLabels, ObjectLabel
from tests.agent.perception.synthetic import box_surface_points

CLASSES = ("background", "car", "truck", "bus", "pedestrian", "cyclist")
#: a parked car, a long wall, and a blob the champion is torn about (pedestrian or cyclist)
CAR = (12.0, 3.0, -0.9, 4.4, 1.9, 1.6, 0.0)
WALL = (20.0, -8.0, 0.0, 20.0, 0.3, 3.5, 0.0)
BLOB = (8.0, -3.0, -1.2, 0.8, 0.8, 1.1, 0.0)


def logits(probs: list[float], members: int = 3) -> npt.NDArray[np.float32]:
    """Ensemble logits (M, K) whose every member's softmax is ``probs``."""
    row = np.log(np.clip(np.asarray(probs, dtype=np.float64), 1e-9, None))
    return np.tile(row, (members, 1)).astype(np.float32)


def detections(blob_confident: bool = False) -> Detections:
    """The three candidates: the car (0.98 car), the wall (0.99 background), the blob (split
    between pedestrian and cyclist unless ``blob_confident``)."""
    boxes = np.array([CAR, WALL, BLOB], dtype=np.float32)
    blob = [0.0, 0.0, 0.0, 0.0, 0.98, 0.02] if blob_confident else [0.1, 0, 0, 0, 0.45, 0.45]
    probs = [[0.02, 0.98, 0, 0, 0, 0], [0.99, 0.01, 0, 0, 0, 0], blob]
    lg = np.stack([logits(p) for p in probs])
    ids = np.array([1, 0, 4], dtype=np.int64)
    return Detections(
        boxes=boxes,
        class_ids=ids,
        class_names=tuple(CLASSES[i] for i in ids),
        scores=np.array([0.98, 0.99, 0.45]),
        classes=CLASSES,
        logits=lg,
        embeddings=np.zeros((3, 4), dtype=np.float32),
        num_points=np.array([300, 900, 40], dtype=np.int32),
        fitted_boxes=boxes.copy(),
        extent=boxes[:, 3:6].copy(),
    )


class FixedPerception:
    """A perception callable that sees the same three candidates in every frame."""

    def __init__(self, blob_confident: bool = False) -> None:
        self.calls = 0
        self._blob_confident = blob_confident

    def __call__(self, points: npt.NDArray[np.float32]) -> Detections:
        self.calls += 1
        return detections(self._blob_confident)


def frame_points(seed: int) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    return np.concatenate([box_surface_points(rng, b, 300) for b in (CAR, WALL, BLOB)])


def drive_frames(n: int, seed: int = 0) -> list[DriveFrame]:
    """``n`` frames 0.1 s apart of a vehicle standing still at the origin."""
    return [
        DriveFrame(str(i), frame_points(seed * 1000 + i), (0.0,) * 6, i * 100_000_000)
        for i in range(n)
    ]


def write_truth(root: str, frames: list[DriveFrame]) -> None:
    """The frames as a drive with ground truth (the car, the wall as nothing, a pedestrian)."""
    writer = DatasetWriter(root)
    for i, f in enumerate(frames):
        objects = (ObjectLabel("car", 1, CAR, 300), ObjectLabel("pedestrian", 2, BLOB, 300))
        writer.write_frame(f.points, FrameLabels(i, f.time_ns, f.pose, objects))
    writer.write_meta({"generator": "tests.weak", "frames": len(frames)})
