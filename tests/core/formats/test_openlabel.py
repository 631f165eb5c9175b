"""OpenLABEL documents: Longtail frames round-trip, cuboid forms, and malformed documents."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.classes import ALL_OBJECT_CLASSES
from core.errors import FormatError
from core.formats.dataset import FrameLabels, ObjectLabel
from core.formats.openlabel import from_openlabel, read_openlabel, to_openlabel, write_openlabel
from tests.core.formats.strategies import angle_diff, boxes, corrupt


@st.composite
def frame_lists(draw: st.DrawFn) -> list[FrameLabels]:
    classes = draw(st.lists(st.sampled_from(ALL_OBJECT_CLASSES), min_size=1, max_size=5))
    frames = []
    for index in draw(st.lists(st.integers(0, 10_000), unique=True, max_size=4)):
        tracks = draw(st.lists(st.integers(0, len(classes) - 1), unique=True))
        objects = tuple(
            ObjectLabel(classes[t], t, draw(boxes()), draw(st.integers(-1, 5000))) for t in tracks
        )
        pose = draw(st.tuples(*[st.floats(-1e4, 1e4)] * 6))
        frames.append(FrameLabels(index, draw(st.integers(0, 2**62)), pose, objects))
    return frames


def assert_same_frames(a: list[FrameLabels], b: list[FrameLabels]) -> None:
    assert [(f.index, f.timestamp_ns, f.pose) for f in a] == [
        (f.index, f.timestamp_ns, f.pose) for f in b
    ]
    for fa, fb in zip(a, b, strict=True):
        assert [(o.class_name, o.track_id, o.num_points) for o in fa.objects] == [
            (o.class_name, o.track_id, o.num_points) for o in fb.objects
        ]
        for oa, ob in zip(fa.objects, fb.objects, strict=True):
            assert ob.box[:6] == pytest.approx(oa.box[:6], abs=1e-9)
            assert angle_diff(ob.box[6], oa.box[6]) < 1e-9 and -math.pi < ob.box[6] <= math.pi


@given(frames=frame_lists())
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_frames_round_trip_through_a_file(tmp_path: Path, frames: list[FrameLabels]) -> None:
    path = tmp_path / "labels.json"
    write_openlabel(path, frames)
    assert_same_frames(read_openlabel(path), sorted(frames, key=lambda f: f.index))


def cuboid_doc(val: list[Any]) -> dict[str, Any]:
    return {
        "openlabel": {
            "metadata": {"schema_version": "1.0.0"},
            "objects": {"7": {"name": "car_7", "type": "car"}},
            "frames": {
                "3": {"objects": {"7": {"object_data": {"cuboid": [{"name": "box", "val": val}]}}}}
            },
        }
    }


def test_document_shape_and_known_answer() -> None:
    frame = FrameLabels(
        3,
        1_500_000_000,
        (0,) * 6,
        (ObjectLabel("car", 7, (1, 2, 3, 4.5, 1.9, 1.6, math.pi / 2), 88),),
    )
    doc = to_openlabel([frame])
    cuboid = doc["openlabel"]["frames"]["3"]["objects"]["7"]["object_data"]["cuboid"][0]
    half = math.sqrt(0.5)
    assert cuboid["val"] == pytest.approx([1, 2, 3, 0, 0, half, half, 4.5, 1.9, 1.6])
    assert doc["openlabel"]["objects"]["7"]["type"] == "car"
    assert doc["openlabel"]["frames"]["3"]["frame_properties"]["timestamp"] == pytest.approx(1.5)
    json.dumps(doc)  # JSON-ready


def test_euler_cuboids_and_missing_properties() -> None:
    (frame,) = from_openlabel(cuboid_doc([1, 2, 3, 0, 0, 0.5, 4, 2, 1.5]))
    assert frame.objects[0].box == pytest.approx((1, 2, 3, 4, 2, 1.5, 0.5))
    assert (frame.timestamp_ns, frame.pose, frame.objects[0].num_points) == (0, (0.0,) * 6, -1)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"nope": {}}, "not an OpenLABEL document"),
        (cuboid_doc([1, 2, 3]), "9 or 10 numbers"),
        (cuboid_doc([1, 2, 3, 0, 0, 0, 1, 4, 0, 1]), "must be positive"),
        (cuboid_doc([1, 2, 3, 0, 0, 0, 0, 4, 2, 1]), "not a valid rotation"),
        (cuboid_doc([1, 2, "x", 0, 0, 0, 1, 4, 2, 1]), "non-number"),
        (cuboid_doc([1, 2, 1e999, 0, 0, 0, 1, 4, 2, 1]), "non-finite"),
    ],
)
def test_malformed_documents_are_refused(document: dict[str, Any], message: str) -> None:
    with pytest.raises(FormatError, match=message):
        from_openlabel(document, "run.json")


def test_undeclared_objects_and_class_conflicts() -> None:
    doc = cuboid_doc([1, 2, 3, 0, 0, 0, 1, 4, 2, 1])
    del doc["openlabel"]["objects"]["7"]
    with pytest.raises(FormatError, match=r"run\.json: frame 3: object '7' is not declared"):
        from_openlabel(doc, "run.json")
    box = (0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0)
    frames = [
        FrameLabels(i, 0, (0,) * 6, (ObjectLabel(c, 1, box, 0),))
        for i, c in enumerate(("car", "bus"))
    ]
    with pytest.raises(FormatError, match="track 1 is 'bus' here but 'car'"):
        to_openlabel(frames)


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(FormatError, match=r"broken\.json: cannot read OpenLABEL JSON"):
        read_openlabel(path)


@given(data=st.data())
@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_corrupt_documents_give_format_errors(tmp_path: Path, data: st.DataObject) -> None:
    box = (1.0, 2.0, 0.5, 4.0, 2.0, 1.5, 0.3)
    frames = [
        FrameLabels(i, i * 100, (0.0,) * 6, (ObjectLabel("car", 4, box, 9),)) for i in range(2)
    ]
    path = tmp_path / "fuzz.json"
    path.write_bytes(corrupt(json.dumps(to_openlabel(frames)).encode(), data))
    try:
        read_openlabel(path)
    except FormatError as exc:
        assert str(path) in str(exc)
