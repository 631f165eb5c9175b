"""KITTI label_2 files, the class mapping and the camera <-> LiDAR box conversion."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.classes import ALL_OBJECT_CLASSES, UNKNOWN_OBSTACLE
from core.errors import FormatError
from core.formats.dataset import ObjectLabel
from core.formats.kitti_calib import (
    KittiCalib,
)
from core.formats.kitti_label import (
    KittiObject,
    box_to_kitti,
    class_to_kitti_type,
    kitti_to_box,
    kitti_to_labels,
    kitti_type_to_class,
    labels_to_kitti,
    parse_kitti_label,
    read_kitti_label,
    write_kitti_label,
)
from tests.core.formats.kitti_fixtures import (
    PEDESTRIAN,
    axis_aligned_calib,
    calibs,
    kitti_calib,
)
from tests.core.formats.strategies import angle_diff, boxes, corrupt


def test_label_lines_parse_and_write_exactly(tmp_path: Path) -> None:
    path = tmp_path / "000000.txt"
    path.write_text(
        PEDESTRIAN
        + "\nDontCare -1 -1 -10 503.89 169.71 590.61 190.13 -1 -1 -1 -1000 -1000 -1000 -10\n"
    )
    objects = read_kitti_label(path)
    assert [o.type for o in objects] == ["Pedestrian", "DontCare"]
    ped = objects[0]
    assert (ped.dimensions, ped.location, ped.rotation_y, ped.score) == (
        (1.89, 0.48, 1.2),
        (1.84, 1.47, 8.41),
        0.01,
        None,
    )
    write_kitti_label(path, objects)
    assert path.read_text().splitlines()[0] == PEDESTRIAN
    write_kitti_label(path, objects, decimals=None)
    assert read_kitti_label(path) == objects


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("Car 0 0 0 1 2 3 4 1 1 1 1 1", "expected 15 or 16 values, got 13"),
        ("Car 0 0 0 1 2 3 4 1 1 1 1 1 x 0", "line 1"),
        ("Car 0 0 0 1 2 3 4 1 1 1 1 1 nan 0", "non-finite"),
        ("Car 0 0.5 0 1 2 3 4 1 1 1 1 1 1 0", "line 1"),
    ],
)
def test_bad_label_lines_are_refused(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "000007.txt"
    path.write_text(line + "\n")
    with pytest.raises(FormatError, match=rf"000007\.txt: .*{message}"):
        read_kitti_label(path)


def test_class_mapping() -> None:
    assert [kitti_type_to_class(t) for t in ("Car", "Van", "Truck", "Pedestrian", "Person_sitting", "Cyclist", "Tram")] == [
        "car", "truck", "truck", "pedestrian", "pedestrian", "cyclist", "bus",
    ]  # fmt: skip
    assert kitti_type_to_class("DontCare") is None and kitti_type_to_class("Misc") is None
    for name in (*ALL_OBJECT_CLASSES, UNKNOWN_OBSTACLE):
        assert kitti_type_to_class(class_to_kitti_type(name)) == name
    with pytest.raises(FormatError, match="unknown KITTI object type 'Zeppelin'"):
        kitti_type_to_class("Zeppelin", "000003.txt")


def test_axis_aligned_conversion_known_answers() -> None:
    calib = axis_aligned_calib()
    obj = parse_kitti_label("Car 0 0 0 0 0 0 0 1.5 1.6 4.0 1.0 2.0 10.0 0.0", "t")[0]
    x, y, z, length, w, h, yaw = kitti_to_box(obj, calib)
    # camera (right 1, down 2, forward 10), bottom centre -> LiDAR (10, -1, -2), raised by h/2
    assert (x, y, z) == pytest.approx((10.0, -1.0, -1.25))
    assert (length, w, h) == (4.0, 1.6, 1.5)
    assert yaw == pytest.approx(-math.pi / 2)  # rotation_y 0 faces the camera's +x (LiDAR -y)
    facing_forward = parse_kitti_label(
        "Car 0 0 0 0 0 0 0 1.5 1.6 4.0 1.0 2.0 10.0 -1.5707963267948966", "t"
    )[0]
    assert kitti_to_box(facing_forward, calib)[6] == pytest.approx(0.0)


def test_kitti_frame_000000_pedestrian() -> None:
    calib = kitti_calib()
    ped = parse_kitti_label(PEDESTRIAN, "t")[0]
    box = kitti_to_box(ped, calib)
    # reference: centre = rect_to_lidar(location) + h/2 up, yaw = -(ry + pi/2) (OpenPCDet's form)
    ref = calib.rect_to_lidar(ped.location)[0] + [0, 0, 1.89 / 2]
    assert box[:3] == pytest.approx(tuple(ref), abs=1e-9)
    assert angle_diff(box[6], -(0.01 + math.pi / 2)) < 0.01  # the rig's camera yaw is < 0.6 deg
    back = box_to_kitti(box, "pedestrian", calib)
    assert back.alpha == pytest.approx(-0.20, abs=0.01)
    # the 3D box projected through P2 lands on the labelled 2D box within 25 px
    assert np.allclose(back.bbox, ped.bbox, atol=25)


@given(boxes(), calibs(), st.sampled_from(ALL_OBJECT_CLASSES))
@settings(max_examples=150, deadline=None)
def test_box_to_kitti_to_box_round_trip(
    box: tuple[float, ...], calib: KittiCalib, name: str
) -> None:
    obj = box_to_kitti(box, name, calib)
    label = kitti_to_labels([obj], calib)[0]
    assert label.class_name == name
    back = label.box
    assert back[:6] == pytest.approx(box[:6], abs=1e-9)
    assert angle_diff(back[6], box[6]) < 1e-9 and -math.pi < back[6] <= math.pi


@given(boxes(), calibs())
@settings(max_examples=150, deadline=None)
def test_kitti_to_box_to_kitti_round_trip(box: tuple[float, ...], calib: KittiCalib) -> None:
    # draw the KITTI object through the converter's inverse, then perturb nothing: a pure
    # camera-frame object read back from text must survive kitti -> box -> kitti exactly
    line = box_to_kitti(box, "car", calib).to_line(decimals=None)
    obj = parse_kitti_label(line, "t")[0]
    again = box_to_kitti(kitti_to_box(obj, calib), "car", calib)
    assert again.location == pytest.approx(obj.location, abs=1e-9)
    assert again.dimensions == obj.dimensions
    assert angle_diff(again.rotation_y, obj.rotation_y) < 1e-9


def test_labels_conversion_skips_dontcare_and_refuses_bad_sizes() -> None:
    calib = axis_aligned_calib()
    objects = parse_kitti_label(
        PEDESTRIAN
        + "\nDontCare -1 -1 -10 503.89 169.71 590.61 190.13 -1 -1 -1 -1000 -1000 -1000 -10",
        "t",
    )
    labels = kitti_to_labels(objects, calib)
    assert [(lb.class_name, lb.track_id, lb.num_points) for lb in labels] == [
        ("pedestrian", -1, -1)
    ]
    assert labels_to_kitti(labels, calib)[0].type == "Pedestrian"
    flat = KittiObject("Car", 0, 0, 0, (0, 0, 0, 0), (0.0, 1.0, 1.0), (0, 0, 5), 0)
    with pytest.raises(FormatError, match="non-positive size"):
        kitti_to_labels([flat], calib, "000009.txt")
    assert isinstance(labels[0], ObjectLabel)


@given(data=st.data())
@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_corrupt_label_files_give_format_errors(tmp_path: Path, data: st.DataObject) -> None:
    path = tmp_path / "label.txt"
    path.write_bytes(corrupt((PEDESTRIAN + "\n").encode() * 3, data))
    try:
        read_kitti_label(path)
    except FormatError as exc:
        assert str(path) in str(exc)
