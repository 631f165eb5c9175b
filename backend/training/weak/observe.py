"""Observations of a drive: the vehicle's runtime on every frame, its candidates tracked.

:func:`observe` runs a perception callable (``agent.perception.pipeline.Perception`` of the
champion: the exact runtime the vehicles and ``backend.evaluation`` run) over the frames of one
drive in time order and places every candidate it returns (background ones included) in the
world frame with the frame's ego pose, through the vehicle's own tracker
(``agent.tracking.WorldTracker``). It keeps the per-frame detections, so the caller can write
the boxes of the frames it keeps. No I/O: frames come in, arrays go out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from agent.perception.decode import ensemble_probabilities
from agent.perception.pipeline import Detections
from agent.tracking import TrackerSettings, WorldTracker
from backend.errors import TrainingError
from backend.training.weak.functions import Observations

log = logging.getLogger(__name__)

F32 = npt.NDArray[np.float32]
Pose = tuple[float, float, float, float, float, float]


@dataclass(frozen=True)
class DriveFrame:
    """One frame of a drive: its key (a drive index or a stored frame id), points (float32
    (N, 4), sensor frame), ego pose in the world frame (x, y, z metres; roll, pitch, yaw
    radians) and capture time (nanoseconds)."""

    key: str
    points: F32
    pose: Pose
    time_ns: int


@dataclass(frozen=True)
class Observed:
    """The drive's observations and, per frame (same order), its detections."""

    observations: Observations
    detections: tuple[Detections, ...]
    keys: tuple[str, ...]


def member_probabilities(logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """Per ensemble member, the softmax (C, M, K) of logits (C, M, K)."""
    c, m, k = logits.shape
    out: npt.NDArray[np.float64] = ensemble_probabilities(logits.reshape(c * m, 1, k)).reshape(
        c, m, k
    )
    return out


def observe(
    frames: Iterable[DriveFrame],
    perceive: Callable[[F32], Detections],
    *,
    tracker: TrackerSettings | None = None,
    on_frame: Callable[[DriveFrame, Detections], None] | None = None,
) -> Observed:
    """Run ``perceive`` on each of ``frames`` (time order) and track the candidates; a frame
    captured before the one before it is refused (the tracker's velocities need time order).
    ``on_frame`` is called with each frame and its detections (e.g. to match ground truth
    while the points are at hand)."""
    track = WorldTracker(tracker or TrackerSettings())
    parts: list[Observations] = []
    kept: list[Detections] = []
    keys: list[str] = []
    last_ns: int | None = None
    for position, frame in enumerate(frames):
        if last_ns is not None and frame.time_ns < last_ns:
            raise TrainingError(
                f"frame {frame.key}: captured at {frame.time_ns} ns, before the previous frame "
                f"({last_ns} ns); a drive must be observed in time order"
            )
        last_ns = frame.time_ns
        det = perceive(frame.points)
        out = track.update(det.boxes[:, :2], det.class_ids, frame.pose, frame.time_ns / 1e9)
        parts.append(
            Observations(
                np.full(len(det), position, dtype=np.int64),
                member_probabilities(det.logits),
                det.boxes.astype(np.float32),
                det.fitted_boxes.astype(np.float32),
                out.track_id.astype(np.int64),
                det.classes,
            )
        )
        kept.append(det)
        keys.append(frame.key)
        if on_frame is not None:
            on_frame(frame, det)
    if not parts:
        raise TrainingError("observe: the drive has no frames")
    log.info("observed %d frames, %d candidates", len(parts), sum(len(p) for p in parts))
    return Observed(Observations.concat(parts), tuple(kept), tuple(keys))
