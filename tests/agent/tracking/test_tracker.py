"""The world-frame tracker: stable ids from a moving vehicle, speeds, class flips, track life."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agent.tracking import TrackerSettings, WorldTracker
from agent.tracking.tracker import greedy_associate


def sensor_xy(world: np.ndarray, pose: tuple[float, ...]) -> np.ndarray:
    c, s = math.cos(pose[5]), math.sin(pose[5])
    d = world - np.array(pose[:2])
    return np.stack([c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1]], axis=1)


def test_a_parked_object_stands_still_and_a_walker_walks_while_the_vehicle_drives() -> None:
    tracker = WorldTracker()
    ids = []
    for f in range(30):
        t = 0.1 * f
        pose = (10.0 * t, -1.75, 0.0, 0.0, 0.0, 0.02 * math.sin(t))  # 10 m/s, slight yaw swing
        world = np.array([[40.0, 9.75], [30.0, 12.4 - 1.2 * t]])  # parked; crossing at 1.2 m/s
        out = tracker.update(sensor_xy(world, pose), [1, 2], pose, t)
        ids.append(out.track_id.tolist())
    assert all(i == ids[0] for i in ids)
    assert out.speed_mps[0] == pytest.approx(0.0, abs=0.05)
    assert out.speed_mps[1] == pytest.approx(1.2, abs=0.05)
    assert out.confirmed.all() and out.age.tolist() == [30, 30]


def test_class_flips_are_counted_and_lost_tracks_are_dropped() -> None:
    tracker = WorldTracker(TrackerSettings(max_misses=2))
    pose = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    for f, cls in enumerate([1, 1, 2, 1, 1]):
        out = tracker.update([[10.0, 0.0]], [cls], pose, 0.1 * f)
    assert out.class_flips.tolist() == [2]
    first = int(out.track_id[0])
    for f in range(5, 8):  # three frames without it: dropped after two misses
        tracker.update(np.zeros((0, 2)), [], pose, 0.1 * f)
    assert tracker.live_tracks == 0
    again = tracker.update([[10.0, 0.0]], [1], pose, 0.8)
    assert int(again.track_id[0]) != first and not again.confirmed[0]


def test_greedy_association_takes_the_closest_pairs_within_the_gate() -> None:
    pred = np.array([[0.0, 0.0], [1.0, 0.0], [50.0, 0.0]])
    det = np.array([[0.9, 0.0], [0.2, 0.0], [20.0, 0.0]])
    assert greedy_associate(pred, det, 2.0).tolist() == [1, 0, -1]
    assert greedy_associate(pred[:0], det, 2.0).tolist() == [-1, -1, -1]
