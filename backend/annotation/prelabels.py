"""Pre-labels: the fleet model's detections as a scored box layer, tracked across the task's
frames, and a first point segmentation from the vehicle's own ground estimate and boxes.

* Boxes: every detection the vehicle reported (sensor frame, centre box) becomes a box with the
  detection's confidence as ``score``. Detections of consecutive frames are linked into tracks
  in the world frame (the frame's ego pose: x, y, yaw; roll and pitch are ignored, as for a car
  on a road) by a Hungarian assignment on centre distance, gated at ``gate_m``, so one object
  carries one ``track_id`` through the task.
* Points: ground points (the vehicle's ground estimate, ``agent.perception.ground``, with the
  runtime's default settings) are ``road``; points inside a box take the box's class and its
  track id as instance (its ground points stay road); the rest stay unlabelled (0) for a person to fill in.

Numeric work is numpy/numba/scipy; no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from agent.perception.ground import grid_size
from agent.perception.preprocess import PipelineParams, height_above_ground
from backend.annotation.labels import BoxLabel
from backend.annotation.ontology import Ontology
from backend.metadata.records import FrameRecord
from core.classes import BACKGROUND
from core.formats.semantic_kitti import PointLabels
from core.geometry import points_in_boxes

#: the largest centre displacement (m) between consecutive frames that still continues a track
DEFAULT_GATE_M = 3.0


def _world_centres(frame: FrameRecord) -> npt.NDArray[np.float64]:
    """Detection centres (K, 2) in the world frame of the frame's ego pose."""
    if not frame.detections:
        return np.zeros((0, 2))
    xy = np.array([d.box[:2] for d in frame.detections], dtype=np.float64)
    yaw = float(frame.pose.get("yaw", 0.0))
    c, s = math.cos(yaw), math.sin(yaw)
    world = np.empty_like(xy)
    world[:, 0] = float(frame.pose.get("x", 0.0)) + c * xy[:, 0] - s * xy[:, 1]
    world[:, 1] = float(frame.pose.get("y", 0.0)) + s * xy[:, 0] + c * xy[:, 1]
    return world


def prelabel_boxes(
    frames: Sequence[FrameRecord], ontology: Ontology, *, gate_m: float = DEFAULT_GATE_M
) -> list[BoxLabel]:
    """Boxes of every frame's detections with track ids linked across the frames (in order).

    Detections of classes outside the ontology's object classes (the model's ``background``)
    are left out: they are what the model itself calls not-an-object."""
    objects = set(ontology.object_classes)
    boxes: list[BoxLabel] = []
    next_track = 1
    previous_tracks = np.zeros(0, dtype=np.int64)
    previous_centres = np.zeros((0, 2))
    for position, frame in enumerate(frames):
        centres = _world_centres(frame)
        tracks = np.zeros(len(frame.detections), dtype=np.int64)
        if len(previous_tracks) and len(tracks):
            cost = np.linalg.norm(centres[:, None, :] - previous_centres[None, :, :], axis=2)
            rows, cols = linear_sum_assignment(np.where(cost <= gate_m, cost, 1e6))
            for r, c in zip(rows, cols, strict=True):
                if cost[r, c] <= gate_m:
                    tracks[r] = previous_tracks[c]
        for i in np.flatnonzero(tracks == 0):
            tracks[i] = next_track
            next_track += 1
        for index, (det, track) in enumerate(zip(frame.detections, tracks, strict=True)):
            if det.class_name == BACKGROUND or det.class_name not in objects:
                continue
            boxes.append(
                BoxLabel(
                    id=f"p{position}-{index}",
                    frame_id=frame.id,
                    track_id=int(track),
                    class_name=det.class_name,
                    box=tuple(float(v) for v in det.box),  # type: ignore[arg-type]
                    attributes={},
                    score=float(min(max(det.confidence, 0.0), 1.0)),
                )
            )
        previous_tracks, previous_centres = tracks, centres
    return boxes


def prelabel_points(
    points: npt.NDArray[np.float32],
    boxes: Sequence[BoxLabel],
    ontology: Ontology,
    params: PipelineParams | None = None,
) -> PointLabels:
    """Per-point pre-labels of one frame: ground -> road, inside a box -> its class and track
    (instance ids above 65535 wrap: an instance id only needs to tell objects of a frame apart)."""
    p = params or PipelineParams()
    pts = np.ascontiguousarray(points[:, :4], dtype=np.float32)
    heights = np.empty((grid_size(p.range_m, p.ground_cell),) * 2, dtype=np.float32)
    above = height_above_ground(pts, heights, p)
    ids: Mapping[str, int] = {c.name: c.point_id for c in ontology.classes}
    semantic = np.zeros(pts.shape[0], dtype=np.uint16)
    instance = np.zeros(pts.shape[0], dtype=np.uint16)
    with np.errstate(invalid="ignore"):
        ground = above <= p.ground_threshold
    semantic[ground] = ids["road"]
    if boxes:
        # a box's bottom face touches the road: its ground points stay road
        inside = points_in_boxes(pts, np.array([b.box for b in boxes], dtype=np.float64))
        hit = np.flatnonzero((inside >= 0) & ~ground)
        box_class = np.array([ids[b.class_name] for b in boxes], dtype=np.uint16)
        box_track = np.array([b.track_id & 0xFFFF for b in boxes], dtype=np.uint16)
        semantic[hit] = box_class[inside[hit]]
        instance[hit] = box_track[inside[hit]]
    return PointLabels(semantic, instance)
