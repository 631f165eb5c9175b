"""Rare-object events and their capture, on hand-made drive records."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from backend.evaluation import selection_metrics as sm
from backend.evaluation.selection_metrics import EventRule
from benchmarks.selection_drives import DriveScores, frame_max
from benchmarks.selection_events import (
    capture,
    capture_probability,
    dedup_capture,
    events_of,
    mask_for,
    place_dedup_select,
    random_capture,
    summarise_capture,
)
from tests.benchmarks.records import drive


def max_score(d: DriveScores, mask: np.ndarray, frames: np.ndarray) -> np.ndarray:
    out: np.ndarray = frame_max(np.where(mask, d.raw[:, 0], -np.inf), d.offsets)[frames]
    return out


def test_an_event_is_eligible_only_where_some_frame_shows_it_well_observed() -> None:
    rule = EventRule(min_points=50, near_points=10, near_range_m=30.0)
    objects = [
        [(7, "deer", 5, 80.0), (9, "dog", 12, 40.0)],  # too few points; 12 points but far
        [(7, "deer", 12, 25.0), (9, "dog", 12, 40.0)],  # the deer: 12 points within 30 m
        [(7, "deer", 60, 20.0)],  # and 60 points
    ]
    d = drive([[], [], []], [0, 0, 0], objects=objects)
    events = {e.track: e for e in events_of(d, "d", rule)}
    assert events[7].frames.tolist() == [1, 2] and events[7].eligible
    assert events[7].visible_frames == 3 and events[7].first_range_m == 80.0
    assert events[7].max_points == 60
    assert not events[9].eligible and events[9].class_name == "dog"


def test_other_rare_actors_cannot_lift_an_events_frame() -> None:
    # frame 0: an ordinary candidate (score 1) and rare tracks 7 (score 5) and 9 (score 9)
    d = drive(
        [[(1.0, 1, ""), (5.0, 0, "deer"), (9.0, 0, "dog")]],
        [60],
        tracks=[[-1, 7, 9]],
        objects=[[(7, "deer", 60, 10.0), (9, "dog", 60, 10.0)]],
    )
    frames = np.array([0])
    assert max_score(d, mask_for(d, 7), frames).tolist() == [5.0]
    assert max_score(d, mask_for(d, 9), frames).tolist() == [9.0]
    assert max_score(d, mask_for(d, None), frames).tolist() == [9.0]


def test_capture_uses_the_natural_threshold_and_any_well_observed_frame() -> None:
    # natural: 100 frames scoring 0..99; at 1 % the threshold keeps the frame scoring 99
    natural = drive([[(float(s), 1, "")] for s in range(100)], [0] * 100)
    objects = [[(7, "deer", 60, 10.0)], [(7, "deer", 60, 10.0)], [(8, "dog", 60, 10.0)]]
    enriched = drive(
        [[(50.0, 0, "deer")], [(99.5, 0, "deer")], [(98.0, 0, "dog")]],
        [60, 60, 60],
        tracks=[[7], [7], [8]],
        objects=objects,
    )
    events = events_of(enriched, "e", EventRule())
    result = capture(max_score, [natural], {"e": enriched}, events, [0.01, 0.02])
    # the deer tops the threshold in one of its frames; the dog only at 2 %
    assert result.probability.tolist() == [[1.0, 1.0], [0.0, 1.0]]
    summary = summarise_capture(result, events, ["deer", "dog", "stroller"])
    assert summary["all"]["0.01"]["recall"] == 0.5
    assert summary["per_class"]["dog"]["0.02"]["recall"] == 1.0
    assert summary["per_class"]["stroller"]["events"] == 0
    low, high = summary["all"]["0.01"]["wilson95"]
    assert (low, high) == pytest.approx(sm.wilson_interval(1, 2))


def test_ties_at_the_threshold_and_random_selection_are_expectations() -> None:
    rule = sm.ThresholdRule(threshold=1.0, tie_keep=0.25)
    assert capture_probability(np.array([1.0, 1.0, 0.0]), rule) == pytest.approx(1 - 0.75**2)
    d = drive([[]] * 3, [0] * 3, objects=[[(1, "dog", 60, 5.0)]] * 3)
    (event,) = events_of(d, "d", EventRule())
    result = random_capture([event], [0.01])
    assert result.probability[0, 0] == pytest.approx(1 - 0.99**3)


def test_one_upload_per_place_keeps_the_first_frame_of_each_place() -> None:
    scores = np.array([5.0, 6.0, 1.0, 7.0, 5.0, 5.0])
    places = np.array([[0.0, 0.0], [3.0, 0.0], [50.0, 0.0], [60.0, 0.0], [0.0, 0.0], [1.0, 0.0]])
    kept = place_dedup_select(scores, places, 5.0, 10.0, 3)
    # frame 1 is frame 0's place; frame 2 is below; frame 4 is 4 frames after frame 0 (window 3)
    assert kept.tolist() == [True, False, False, True, True, False]


def test_per_place_thresholds_spend_the_budget_on_distinct_places() -> None:
    # natural: one odd object scoring 90-99 over ten frames at one place, and 90 frames of
    # ordinary objects scoring 0-89 each at its own place; at 2 % (2 uploads) per frame
    # thresholds spend both uploads on the odd object, per place only one
    scores = [float(90 + i) for i in range(10)] + [float(i) for i in range(90)]
    natural = drive([[(s, 1, "")] for s in scores], [0] * 100)
    natural = dataclasses.replace(natural, boxes=np.zeros((100, 7), dtype=np.float32))
    natural.boxes[10:, 0] = 100.0 + 20.0 * np.arange(90)  # ordinary objects far apart
    objects = [[(7, "deer", 60, 10.0)]]
    enriched = drive([[(89.5, 0, "deer")]], [60], tracks=[[7]], objects=objects)
    events = events_of(enriched, "e", EventRule())
    values = {"raw": lambda d: d.raw[:, 0]}
    per_frame = capture(max_score, [natural], {"e": enriched}, events, [0.02])
    per_place = dedup_capture(values["raw"], [natural], {"e": enriched}, events, [0.02])
    assert per_frame.probability[0, 0] == 0.0 and per_place.probability[0, 0] == 1.0
