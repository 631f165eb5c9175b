"""Ground truth in the selection benchmark's drive records."""

from __future__ import annotations

import numpy as np

from benchmarks.selection_drives import frame_labels, rare_overlap, rare_points_of
from core.formats.dataset import FrameLabels, ObjectLabel


def labels(*objects: ObjectLabel) -> FrameLabels:
    return FrameLabels(index=0, timestamp_ns=0, pose=(0.0,) * 6, objects=objects)


def test_each_detection_gets_the_rare_class_it_overlaps_most() -> None:
    frame = labels(
        ObjectLabel("car", 1, (10.0, 0.0, 0.8, 4.5, 1.8, 1.5, 0.0), 300),
        ObjectLabel("deer", 2, (20.0, 2.0, 0.7, 1.6, 0.5, 1.3, 0.0), 40),
        ObjectLabel("traffic_cone", 3, (20.9, 2.0, 0.3, 0.4, 0.4, 0.7, 0.0), 12),
    )
    detections = np.array(
        [
            [10.0, 0.0, 0.8, 4.4, 1.8, 1.5, 0.0],  # on the car: not rare
            [20.1, 2.0, 0.7, 1.5, 0.5, 1.3, 0.0],  # mostly the deer, touching the cone
            [20.9, 2.0, 0.3, 0.4, 0.4, 0.7, 0.0],  # the cone
            [40.0, -5.0, 0.5, 1.0, 1.0, 1.0, 0.0],  # nothing
        ],
        dtype=np.float32,
    )
    names, tracks = rare_overlap(detections, frame)
    assert names.tolist() == ["", "deer", "traffic_cone", ""]
    assert tracks.tolist() == [-1, 2, 3, -1]
    assert rare_overlap(detections, frame, rare_only=False)[0].tolist()[0] == "car"
    assert rare_points_of(frame) == 40
    assert rare_overlap(detections[:0], frame)[0].shape == (0,)
    assert rare_overlap(detections, labels())[0].tolist() == [""] * 4


def test_frame_labels_ignore_rare_objects_with_too_few_points() -> None:
    assert frame_labels(np.array([0, 3, 10, 50]), 10).tolist() == [0, -1, 1, 1]
