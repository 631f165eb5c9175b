"""Label content: validation with precise messages, the point-label codecs, digests and diffs."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from backend.annotation.labels import (
    BoxLabel,
    FrameFacts,
    LabelContent,
    content_from_json,
    content_to_json,
    diff,
    digest,
    loaded_points,
    points_from_json,
    same_points,
    stored_points,
    validate,
)
from backend.annotation.ontology import default_ontology
from backend.errors import InvalidInputError
from core.formats.semantic_kitti import PointLabels

FRAMES = {"f1": FrameFacts(5, 100.0), "f2": FrameFacts(3, 100.0)}


def box(box_id: str = "b1", frame: str = "f1", **changes: object) -> BoxLabel:
    values: dict[str, object] = dict(
        id=box_id,
        frame_id=frame,
        track_id=1,
        class_name="car",
        box=(1.0, 2.0, 0.0, 4.0, 2.0, 1.5, 0.5),
    )
    values.update(changes)
    return BoxLabel(**values)  # type: ignore[arg-type]


def points(semantic: list[int], instance: list[int] | None = None) -> PointLabels:
    inst = instance if instance is not None else [0] * len(semantic)
    return PointLabels(np.array(semantic, dtype=np.uint16), np.array(inst, dtype=np.uint16))


def test_validation_wraps_yaw_and_completes_attributes() -> None:
    checked = validate(
        LabelContent((box(box=(1, 2, 0, 4, 2, 1.5, 4.0)),)), default_ontology(), FRAMES
    )
    assert checked.boxes[0].box[6] == pytest.approx(4.0 - 2 * math.pi)
    assert checked.boxes[0].attributes["occluded"] == "none"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (LabelContent((box(), box())), "box 'b1': id used twice"),
        (LabelContent((box(track_id=-1),)), "track_id must be an integer >= 0"),
        (LabelContent((box(box=(1, 2, 0, 31, 2, 1, 0)),)), "l must be in \\(0, 30.0\\] m, got 31"),
        (LabelContent((box(box=(0, 0, 40, 4, 2, 1, 0)),)), "outside the frame"),
        (LabelContent((box(score=1.5),)), "score must be in \\[0, 1\\]"),
        (LabelContent(points={"f1": points([1, 1])}), "2 labels for a frame of 5 points"),
        (LabelContent(points={"f1": points([1, 1, 1, 1, 999])}), "class ids \\[999\\] are not in"),
        (LabelContent(points={"f9": points([1])}), r"frame .f9.*not a frame of this task"),
    ],
)
def test_bad_content_is_refused_with_the_field_and_value(
    content: LabelContent, message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        validate(content, default_ontology(), FRAMES)


def test_json_and_storage_forms_round_trip() -> None:
    original = LabelContent(
        (box(), box("b2", "f2", class_name="pedestrian", score=0.25)),
        {"f1": points([1, 2, 20, 20, 0], [0, 0, 7, 7, 0]), "f2": points([1, 1, 1])},
    )
    back = content_from_json(content_to_json(original))
    assert back.boxes == original.boxes
    assert all(same_points(back.points[f], original.points[f]) for f in ("f1", "f2"))
    data, counts = stored_points(original, ["f1", "f2"])
    assert counts == {"f1": 5, "f2": 3}
    loaded = loaded_points(data, counts)
    assert list(loaded) == ["f1", "f2"]
    assert all(same_points(loaded[f], original.points[f]) for f in ("f1", "f2"))
    assert digest(original) == digest(LabelContent(original.boxes[::-1], original.points))
    assert digest(original) != digest(LabelContent(original.boxes[:1], original.points))


def test_malformed_point_payloads_name_the_frame() -> None:
    with pytest.raises(InvalidInputError, match=r"frame 'f1'.*not base64"):
        points_from_json({"encoding": "zstd-u32le-base64", "data": "!!"}, "f1")
    with pytest.raises(InvalidInputError, match=r"frame 'f1'.*not zstd"):
        points_from_json({"encoding": "zstd-u32le-base64", "data": "AAAA"}, "f1")
    import base64

    import zstandard

    torn = base64.b64encode(zstandard.ZstdCompressor().compress(b"\x01\x02\x03")).decode()
    with pytest.raises(InvalidInputError, match=r"frame 'f1'.*not a multiple of 4"):
        points_from_json({"encoding": "zstd-u32le-base64", "data": torn}, "f1")
    with pytest.raises(InvalidInputError, match=r"frame 'f1'.*expected"):
        points_from_json({"encoding": "json", "data": ""}, "f1")
    encoded = content_to_json(LabelContent(points={"f1": points([1, 2, 3])}))["points"]["f1"]
    with pytest.raises(InvalidInputError, match="count says 4, data holds 3"):
        points_from_json({**encoded, "count": 4}, "f1")


def test_diff_names_boxes_and_point_class_transitions() -> None:
    before = LabelContent((box(), box("b2")), {"f1": points([1, 1, 1, 20, 20])})
    after = LabelContent(
        (box(box=(1.0, 2.0, 0.0, 4.5, 2.0, 1.5, 0.5)), box("b3")),
        {"f1": points([1, 20, 20, 20, 20])},
    )
    names = {1: "road", 20: "car"}
    change = diff(before, after, names)
    assert [b["id"] for b in change["added"]] == ["b3"]
    assert [b["id"] for b in change["removed"]] == ["b2"]
    assert change["changed"][0]["fields"] == ["box"]
    assert change["points"]["f1"] == {"changed": 2, "transitions": {"road->car": 2}}


def test_a_frame_without_its_sensor_range_takes_the_longest_automotive_range() -> None:
    """Frames whose source did not say the sensor's range (0 m) keep boxes out to 300 m + 20 m:
    a box 36 m behind the car is not 'outside' a range nobody measured."""
    unknown = {"f1": FrameFacts(5, 0.0)}
    behind = validate(
        LabelContent((box(box=(-36.4, 0.7, -0.9, 4, 2, 1.5, 0)),)), default_ontology(), unknown
    )
    assert behind.boxes[0].box[0] == pytest.approx(-36.4)
    with pytest.raises(InvalidInputError, match=r"sensor range 300 m \+ 20 m"):
        validate(LabelContent((box(box=(330, 0, 0, 4, 2, 1.5, 0)),)), default_ontology(), unknown)


def test_saves_may_send_point_labels_gzip_compressed() -> None:
    """Browsers compress gzip natively, not zstd: saves may send gzip; answers stay zstd."""
    import base64
    import gzip

    from core.formats.semantic_kitti import encode_point_labels

    words = encode_point_labels(np.array([1, 20, 0], np.uint16), np.array([0, 5, 0], np.uint16))
    sent = {
        "encoding": "gzip-u32le-base64",
        "count": 3,
        "data": base64.b64encode(gzip.compress(words)).decode(),
    }
    back = points_from_json(sent, "f1")
    assert same_points(back, points([1, 20, 0], [0, 5, 0]))
    assert content_to_json(LabelContent(points={"f1": back}))["points"]["f1"]["encoding"] == (
        "zstd-u32le-base64"
    )
    with pytest.raises(InvalidInputError, match=r"frame 'f1'.*not gzip"):
        points_from_json({"encoding": "gzip-u32le-base64", "data": "AAAA"}, "f1")
    torn = base64.b64encode(gzip.compress(words)[:-12]).decode()
    with pytest.raises(InvalidInputError, match=r"frame 'f1'.*truncated"):
        points_from_json({"encoding": "gzip-u32le-base64", "data": torn}, "f1")
    bomb = base64.b64encode(gzip.compress(bytes(64 * 2**20 + 4))).decode()
    with pytest.raises(InvalidInputError, match=r"frame 'f1'.*more than 67108864 bytes"):
        points_from_json({"encoding": "gzip-u32le-base64", "data": bomb}, "f1")


SEQUENCE = {f"f{i}": FrameFacts(5, 100.0) for i in range(1, 5)}


def test_interpolated_boxes_round_trip_and_old_label_sets_digest_as_before() -> None:
    key_a, key_b = box("a", "f1"), box("b", "f3")
    between = box("i", "f2", interpolated=True)
    content = validate(LabelContent((key_a, between, key_b)), default_ontology(), SEQUENCE)
    as_json = content_to_json(content)
    assert [b.get("interpolated") for b in as_json["boxes"]] == [None, True, None]
    assert content_from_json(as_json).boxes[1].interpolated is True
    # a label set of keyframes only is what it was before sequences: same JSON, same digest
    old = {
        "id": "a",
        "frame_id": "f1",
        "track_id": 1,
        "class_name": "car",
        "box": [1.0, 2.0, 0.0, 4.0, 2.0, 1.5, 0.5],
        "attributes": {},
        "score": None,
    }
    assert content_from_json({"boxes": [old]}).boxes[0].to_json() == old
    assert digest(LabelContent((key_a,))) == digest(content_from_json({"boxes": [old]}))


@pytest.mark.parametrize(
    ("boxes", "message"),
    [
        ((box("i", "f2", interpolated=True), box("b", "f3")), "no keyframe before and after"),
        ((box("a", "f1"), box("i", "f4", interpolated=True)), "no keyframe before and after"),
        (
            (box("a", "f1"), box("i", "f2", interpolated=True, track_id=2), box("b", "f3")),
            "track 2 has no keyframe",
        ),
        (
            (box("a", "f1"), box("i", "f2", interpolated=True, score=0.5), box("b", "f3")),
            "a pre-label (with a score) cannot be interpolated",
        ),
    ],
)
def test_an_interpolated_box_needs_keyframes_of_its_track_on_both_sides(
    boxes: tuple[BoxLabel, ...], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        validate(LabelContent(boxes), default_ontology(), SEQUENCE)


def test_interpolated_must_be_a_boolean_in_json() -> None:
    raw = {"id": "a", "frame_id": "f1", "class_name": "car", "box": [0, 0, 0, 1, 1, 1, 0]}
    with pytest.raises(InvalidInputError, match="interpolated must be true or false"):
        content_from_json({"boxes": [{**raw, "interpolated": "yes"}]})
