"""Longtail point classes <-> SemanticKITTI label ids: every class has a SemanticKITTI id, every
SemanticKITTI id reads back as a Longtail class, and the lossy rows are exactly the stated ones."""

from __future__ import annotations

import numpy as np
import pytest

from core.classes import POINT_CLASS_IDS, POINT_CLASS_NAMES
from core.errors import FormatError
from core.formats.semantic_kitti import decode_point_labels, encode_point_labels
from core.formats.semantic_kitti_classes import (
    EXACT_CLASSES,
    LONGTAIL_TO_SEMANTIC_KITTI,
    SEMANTIC_KITTI_NAMES,
    SEMANTIC_KITTI_TO_LONGTAIL,
    from_semantic_kitti,
    semantic_kitti_name,
    to_semantic_kitti,
)


def test_every_longtail_point_class_is_mapped_and_every_semantic_kitti_id_reads_back() -> None:
    assert set(LONGTAIL_TO_SEMANTIC_KITTI) == set(POINT_CLASS_IDS)
    assert set(LONGTAIL_TO_SEMANTIC_KITTI.values()) <= set(SEMANTIC_KITTI_NAMES)
    assert set(SEMANTIC_KITTI_TO_LONGTAIL) == set(SEMANTIC_KITTI_NAMES)
    assert set(SEMANTIC_KITTI_TO_LONGTAIL.values()) <= set(POINT_CLASS_IDS)


def test_known_answers_and_the_stated_lossy_classes() -> None:
    assert semantic_kitti_name("road") == "road"
    assert semantic_kitti_name("pedestrian") == "person"
    assert semantic_kitti_name("cyclist") == "bicyclist"
    assert semantic_kitti_name("unknown_obstacle") == "other-object"
    lossy = set(POINT_CLASS_IDS) - EXACT_CLASSES
    assert lossy == {
        "curb",
        "overturned_car",
        "person_with_object",
        "wheelchair_user",
        "scooter_rider",
        "stroller",
        "deer",
        "dog",
        "traffic_cone",
        "construction_barrier",
        "debris",
    }


def test_ids_convert_both_ways_vectorised() -> None:
    names = sorted(POINT_CLASS_IDS)
    ids = np.array([POINT_CLASS_IDS[n] for n in names] * 3, dtype=np.uint16)
    exported = to_semantic_kitti(ids)
    assert exported.dtype == np.uint16
    assert [int(v) for v in exported[: len(names)]] == [
        LONGTAIL_TO_SEMANTIC_KITTI[n] for n in names
    ]
    back = from_semantic_kitti(exported)
    for original, returned in zip(ids.tolist(), back.tolist(), strict=True):
        name = POINT_CLASS_NAMES[original]
        expected = (
            name
            if name in EXACT_CLASSES
            else SEMANTIC_KITTI_TO_LONGTAIL[LONGTAIL_TO_SEMANTIC_KITTI[name]]
        )
        assert POINT_CLASS_NAMES[returned] == expected
    # moving objects read as their static class
    moving = from_semantic_kitti(np.array([252, 254, 258], dtype=np.uint32))
    assert [POINT_CLASS_NAMES[int(v)] for v in moving] == ["car", "pedestrian", "truck"]


def test_through_a_label_file_instances_are_untouched() -> None:
    semantic = np.array([POINT_CLASS_IDS["road"], POINT_CLASS_IDS["car"], 0], dtype=np.uint16)
    instance = np.array([0, 7, 0], dtype=np.uint16)
    raw = encode_point_labels(to_semantic_kitti(semantic), instance)
    read = decode_point_labels(raw)
    assert read.semantic.tolist() == [40, 10, 0] and read.instance.tolist() == [0, 7, 0]
    assert np.array_equal(from_semantic_kitti(read.semantic), semantic)


def test_unmapped_ids_are_refused_with_their_values() -> None:
    with pytest.raises(
        FormatError,
        match=r"frame 3: 2 point\(s\) carry Longtail class ids with no mapping: \[17, 900\]",
    ):
        to_semantic_kitti(np.array([1, 17, 900], dtype=np.uint16), "frame 3")
    with pytest.raises(FormatError, match=r"SemanticKITTI ids with no mapping: \[5\]"):
        from_semantic_kitti(np.array([40, 5], dtype=np.uint16))
    with pytest.raises(FormatError, match="1-D integer"):
        to_semantic_kitti(np.array([1.0]))
