"""The per-rare-class diagnosis of the selection benchmark, on hand-made drive records."""

from __future__ import annotations

import numpy as np
import pytest

from agent.scoring import SCORE_NAMES
from benchmarks.selection_diagnosis import (
    RareClassRecord,
    add_rare_classes,
    summarise_rare_classes,
)
from benchmarks.selection_drives import frame_labels, frame_max
from tests.benchmarks.records import CLASSES, drive


def test_frame_max_is_minus_inf_for_empty_frames() -> None:
    values = np.array([1.0, 3.0, 2.0])
    offsets = np.array([0, 2, 2, 3], dtype=np.int64)
    assert frame_max(values, offsets).tolist() == [3.0, -np.inf, 2.0]


def test_percentile_ranks_the_object_among_ordinary_frame_scores() -> None:
    # four ordinary frames with frame scores 1, 2, 3, 4; one rare frame whose object scores 2.5
    # (the frame's other detection scores 9 but is not on the object: it must not count)
    natural = drive(
        [
            [(1.0, 1, "")],
            [(2.0, 1, "")],
            [(3.0, 0, "")],
            [(4.0, 2, "")],
            [(2.5, 2, "deer"), (9.0, 1, "")],
        ],
        [0, 0, 0, 0, 40],
    )
    labels = frame_labels(natural.rare_points, 10)
    records: dict[str, RareClassRecord] = {}
    add_rare_classes(records, natural, labels, [(natural, labels)], CLASSES)
    summary = summarise_rare_classes(records)
    assert set(summary) == {"deer"}
    deer = summary["deer"]
    assert deer["rare_object_frames"] == 1
    assert deer["called"] == {"pedestrian": 1.0}
    for name in SCORE_NAMES:
        assert deer["percentile_among_ordinary_frames"][name]["median"] == pytest.approx(0.5)
        assert deer["percentile_among_ordinary_frames"][name]["share_at_or_above_0.99"] == 0.0


def test_ignored_frames_and_pooling_over_drives() -> None:
    natural = drive([[(1.0, 1, "")], [(5.0, 0, "dog")]], [0, 3])  # 3 points: ignored
    labels = frame_labels(natural.rare_points, 10)
    enriched = drive([[(7.0, 0, "dog")], [(0.5, 0, "dog"), (0.2, 1, "dog")]], [20, 20])
    records: dict[str, RareClassRecord] = {}
    add_rare_classes(
        records,
        natural,
        labels,
        [(natural, labels), (enriched, frame_labels(enriched.rare_points, 10))],
        CLASSES,
    )
    dog = summarise_rare_classes(records)["dog"]
    assert dog["rare_object_frames"] == 2  # the ignored natural frame does not count
    assert dog["detections_on_the_object"] == 3
    assert dog["called"] == pytest.approx({"background": 2 / 3, "car": 1 / 3})
    knn = dog["percentile_among_ordinary_frames"]["knn"]
    assert (knn["median"], knn["max"]) == (0.5, 1.0)  # 7.0 tops the one ordinary frame, 0.5 not
    assert knn["share_at_or_above_0.99"] == 0.5
