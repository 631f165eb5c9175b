"""SUSTechPOINTS label files: both document shapes, the box conversion, the class mapping, and
precise errors for malformed files."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings

from core.classes import ALL_OBJECT_CLASSES, UNKNOWN_OBSTACLE
from core.errors import FormatError
from core.formats.sustechpoints import (
    SustechObject,
    box_to_sustech,
    class_to_sustech_type,
    parse_sustech_label,
    read_sustech_label,
    sustech_to_box,
    sustech_type_to_class,
    write_sustech_label,
)
from tests.core.formats.strategies import angle_diff, boxes

#: the tool's shape: unwrapped yaw, a small roll, a text track id, an empty one
DOCUMENT: list[dict[str, Any]] = [
    {
        "obj_type": "Car",
        "obj_id": "8",
        "psr": {
            "position": {"x": 4.1, "y": -9.7, "z": -0.8},
            "scale": {"x": 4.5, "y": 1.7, "z": 1.6},
            "rotation": {"x": -0.05, "y": 0.003, "z": 4.3},
        },
    },
    {
        "obj_type": "Pedestrian",
        "obj_id": "",
        "obj_attr": "umbrella",
        "psr": {
            "position": {"x": 8, "y": 2, "z": -0.9},
            "scale": {"x": 0.5, "y": 0.6, "z": 1.7},
            "rotation": {"x": 0, "y": 0, "z": -1.5},
        },
    },
]


def test_both_document_shapes_parse_to_the_same_objects() -> None:
    listed = parse_sustech_label(DOCUMENT, "label/000950.json")
    wrapped = parse_sustech_label({"frame": "000950", "objs": DOCUMENT}, "label/000950.json")
    assert listed == wrapped and len(listed) == 2
    car, person = listed
    assert (car.obj_type, car.obj_id, person.obj_id, person.attr) == ("Car", "8", "", "umbrella")


def test_box_conversion_known_answer() -> None:
    car = parse_sustech_label(DOCUMENT, "t")[0]
    x, y, z, length, w, h, yaw = sustech_to_box(car)
    assert (x, y, z, length, w, h) == (4.1, -9.7, -0.8, 4.5, 1.7, 1.6)
    assert yaw == pytest.approx(4.3 - 2 * math.pi)  # wrapped; roll and pitch dropped


@given(box=boxes())
@settings(max_examples=100, deadline=None)
def test_longtail_to_sustech_to_longtail(box: tuple[float, ...]) -> None:
    back = sustech_to_box(box_to_sustech(box, "car", "3"))
    assert back[:6] == pytest.approx(box[:6], abs=1e-12)
    assert angle_diff(back[6], box[6]) < 1e-12


def test_files_round_trip(tmp_path: Path) -> None:
    objects = [
        box_to_sustech((1, 2, 3, 4, 2, 1.5, 0.5), name, str(i))
        for i, name in enumerate(ALL_OBJECT_CLASSES)
    ]
    path = tmp_path / "label" / "000001.json"
    write_sustech_label(path, objects)
    assert isinstance(json.loads(path.read_text()), list)
    assert read_sustech_label(path) == objects


def test_class_mapping() -> None:
    assert [sustech_type_to_class(t) for t in ("Car", "Van", "Bus", "Child", "ScooterRider", "BabyCart", "Cone", "Unknown3")] == [
        "car", "truck", "bus", "pedestrian", "scooter_rider", "stroller", "traffic_cone", UNKNOWN_OBSTACLE,
    ]  # fmt: skip
    assert sustech_type_to_class("DontCare") is None and sustech_type_to_class("Misc") is None
    for name in (*ALL_OBJECT_CLASSES, UNKNOWN_OBSTACLE):
        assert sustech_type_to_class(class_to_sustech_type(name)) == name
    with pytest.raises(
        FormatError, match=r"label/7\.json: SUSTechPOINTS type 'Bicycle' has no Longtail class"
    ):
        sustech_type_to_class("Bicycle", "label/7.json")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"frame": "1"}, "expected a list of objects or an object with 'objs'"),
        ([3], "object 0: expected an object"),
        ([{"psr": {}}], "object 0: obj_type must be a non-empty string"),
        ([{**DOCUMENT[0], "obj_id": 1.5}], "obj_id must be a string or integer"),
        ([{**DOCUMENT[0], "psr": None}], "psr must be an object"),
        (
            [
                DOCUMENT[1],
                {**DOCUMENT[0], "psr": {**DOCUMENT[0]["psr"], "scale": {"x": 1, "y": 2}}},
            ],
            r"object 1: psr.scale.z must be a number",
        ),
        (
            [
                {
                    **DOCUMENT[0],
                    "psr": {**DOCUMENT[0]["psr"], "position": {"x": math.nan, "y": 0, "z": 0}},
                }
            ],
            "psr.position.x must be finite",
        ),
    ],
)
def test_malformed_documents_are_refused(document: Any, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        parse_sustech_label(document, "label/x.json")


def test_bad_sizes_and_unreadable_files(tmp_path: Path) -> None:
    flat = SustechObject("Car", "1", (0, 0, 0), (4, 0, 1.5), (0, 0, 0))
    with pytest.raises(FormatError, match=r"label/2.json: Car has non-positive scale"):
        sustech_to_box(flat, "label/2.json")
    path = tmp_path / "broken.json"
    path.write_text("[{")
    with pytest.raises(FormatError, match=r"broken\.json: cannot read SUSTechPOINTS label JSON"):
        read_sustech_label(path)
