"""The loop benchmark's frame policies on hand-made drive records."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from backend.annotation.active import ActiveWeights
from benchmarks.loop_turn import (
    PoolDrive,
    active_select,
    capture_select,
    random_select,
    rare_in_selection,
    top_k,
)
from benchmarks.selection_events import PlaceDedup
from tests.benchmarks.records import CLASSES, drive


def pool_of_one(xs: list[float]) -> list[PoolDrive]:
    """Frames 0-3: foreground detections scoring 0.9, 0.8, 0.7 and a background one scoring
    0.99; the sensor stands at world x = ``xs[f]`` with the detection at the sensor."""
    records = drive(
        [[(0.9, 1, "")], [(0.8, 2, "dog")], [(0.7, 1, "")], [(0.99, 0, "")]],
        [0, 30, 0, 0],
        objects=[[], [(5, "dog", 30, 4.0), (6, "deer", 3, 9.0)], [], []],
    )
    pose = np.zeros((4, 6))
    pose[:, 0] = xs
    return [PoolDrive(Path("unused"), dataclasses.replace(records, pose=pose))]


def test_capture_takes_the_best_foreground_frames_once_per_place() -> None:
    pool = pool_of_one([0.0, 4.0, 50.0, 100.0])
    # frame 1 is 4 m from frame 0's trigger: the same place; frame 3 has only background
    assert capture_select(pool, 3, PlaceDedup(radius_m=10.0)) == [(0, 0), (0, 2)]
    assert capture_select(pool, 3, PlaceDedup(radius_m=3.0)) == [(0, 0), (0, 1), (0, 2)]
    assert capture_select(pool, 1, PlaceDedup(radius_m=3.0)) == [(0, 0)]
    # the place memory is counted in frames: beyond it the same place is a new upload
    assert capture_select(pool, 3, PlaceDedup(radius_m=10.0, window_frames=0)) == [
        (0, 0),
        (0, 1),
        (0, 2),
    ]


def test_top_k_ranks_the_pool_and_skips_frames_without_a_score() -> None:
    scores = [np.array([0.1, -np.inf, 0.5]), np.array([0.3, 0.9])]
    assert top_k(scores, 3) == [(1, 1), (0, 2), (1, 0)]
    assert top_k(scores, 10) == [(1, 1), (0, 2), (1, 0), (0, 0)]


def test_random_draws_distinct_frames_of_the_whole_pool() -> None:
    pool = pool_of_one([0.0, 1.0, 2.0, 3.0]) * 2
    refs = random_select(pool, 5, np.random.default_rng(1))
    assert len(set(refs)) == 5 and {d for d, _ in refs} == {0, 1}
    assert random_select(pool, 50, np.random.default_rng(1)) == [
        (d, f) for d in range(2) for f in range(4)
    ]


def test_rare_objects_of_a_selection_count_only_well_observed_ones() -> None:
    pool = pool_of_one([0.0, 1.0, 2.0, 3.0])
    assert rare_in_selection(pool, [(0, 0), (0, 1)], min_points=20) == {"dog": 1}
    assert rare_in_selection(pool, [(0, 1)], min_points=1) == {"deer": 1, "dog": 1}
    assert rare_in_selection(pool, [(0, 0), (0, 2)], min_points=1) == {}


def test_active_takes_distinct_uncertain_frames_and_balances_classes() -> None:
    """Frames 0-4 hold one foreground detection each (raw score = uncertainty) and frame 5 a
    background one scoring highest; frame 1 shows the object of frame 0 again (the same
    embedding direction); frames 0-3 are cars, frame 4 a pedestrian."""
    per_frame = [[(0.9, 1, "")], [(0.85, 1, "")], [(0.5, 1, "")], [(0.4, 1, "")]]
    records = drive([*per_frame, [(0.1, 2, "")], [(0.99, 0, "")]], [0] * 6)
    emb = np.eye(6, dtype=np.float32)
    emb[1] = emb[0] + np.array([0, 0.02, 0, 0, 0, 0], dtype=np.float32)
    pool = [PoolDrive(Path("unused"), records, emb)]
    plain = ActiveWeights(kind_balance=0.0)
    # the near-duplicate frame 1 waits although it is the second most uncertain
    assert active_select(pool, 3, CLASSES, score="msp", weights=plain) == [(0, 0), (0, 2), (0, 3)]
    # the class balance lets the one pedestrian in second; the fourth place goes to a third
    # car only because no other class is left (the background-only frame shows nothing)
    balanced = active_select(pool, 4, CLASSES, score="msp", weights=ActiveWeights(batch_size=4))
    assert balanced == [(0, 0), (0, 4), (0, 2), (0, 3)]
    # with background candidates counted, frame 5's uncertain background object leads
    assert active_select(pool, 1, CLASSES, score="msp", foreground_only=False) == [(0, 5)]


def test_active_refuses_a_pool_without_embeddings() -> None:
    pool = pool_of_one([0.0, 1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="embeddings of every detection"):
        active_select(pool, 2, CLASSES)
