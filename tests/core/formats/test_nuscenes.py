"""nuScenes box conversion: the LIDAR_TOP axis swap, the ego frame, quaternions and categories."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.classes import ALL_OBJECT_CLASSES
from core.errors import FormatError
from core.formats.nuscenes import (
    CATEGORY_TO_CLASS,
    Frame,
    NuScenesBox,
    box_to_nuscenes,
    category_to_class,
    class_to_category,
    encode_nuscenes_points,
    nuscenes_to_box,
    pose_quaternion,
    quaternion_yaw,
    read_nuscenes_points,
    yaw_quaternion,
)
from tests.core.formats.strategies import angle_diff, boxes, point_clouds

FRAMES: tuple[Frame, ...] = ("lidar_top", "ego")


def test_lidar_top_axis_swap_known_answer() -> None:
    # 10 m ahead of LIDAR_TOP is +y there; the car heads along +y (yaw pi/2), is 1.9 m wide, 4.5 long
    ns = NuScenesBox((2.0, 10.0, -1.0), (1.9, 4.5, 1.6), yaw_quaternion(math.pi / 2))
    x, y, z, length, w, h, yaw = nuscenes_to_box(ns)
    assert (x, y, z) == pytest.approx((10.0, -2.0, -1.0))  # forward 10 m, 2 m to the right
    assert (length, w, h) == (4.5, 1.9, 1.6)
    assert yaw == pytest.approx(0.0, abs=1e-12)  # heading straight ahead in Longtail's frame
    assert nuscenes_to_box(ns, frame="ego")[:2] == (2.0, 10.0)


@pytest.mark.parametrize("frame", FRAMES)
@given(box=boxes())
@settings(max_examples=100, deadline=None)
def test_longtail_to_nuscenes_to_longtail(frame: Frame, box: tuple[float, ...]) -> None:
    back = nuscenes_to_box(box_to_nuscenes(box, frame=frame), frame=frame)
    assert back[:6] == pytest.approx(box[:6], abs=1e-9)
    assert angle_diff(back[6], box[6]) < 1e-9 and -math.pi < back[6] <= math.pi


@pytest.mark.parametrize("frame", FRAMES)
@given(
    centre=st.tuples(*[st.floats(-100, 100)] * 3),
    size=st.tuples(*[st.floats(0.1, 20)] * 3),
    quaternion=st.tuples(*[st.floats(-1, 1)] * 4).filter(lambda q: sum(v * v for v in q) > 0.01),
)
@settings(max_examples=100, deadline=None)
def test_nuscenes_to_longtail_to_nuscenes(
    frame: Frame,
    centre: tuple[float, float, float],
    size: tuple[float, float, float],
    quaternion: tuple[float, float, float, float],
) -> None:
    # only yaw-only quaternions survive exactly; reduce the drawn rotation to its heading first
    ns = NuScenesBox(centre, size, yaw_quaternion(quaternion_yaw(quaternion)))
    back = box_to_nuscenes(nuscenes_to_box(ns, frame=frame), frame=frame)
    assert back.center == pytest.approx(ns.center, abs=1e-9)
    assert back.size_wlh == pytest.approx(ns.size_wlh)
    assert angle_diff(quaternion_yaw(back.rotation_wxyz), quaternion_yaw(ns.rotation_wxyz)) < 1e-9


def test_quaternion_yaw_ignores_scale_and_handles_tilt() -> None:
    assert quaternion_yaw((2.0, 0.0, 0.0, 0.0)) == 0.0
    assert quaternion_yaw(tuple(3 * v for v in yaw_quaternion(1.0))) == pytest.approx(1.0)
    # a 5 degree roll on top of a 30 degree heading keeps the heading
    c, s = math.cos(math.radians(15)), math.sin(math.radians(15))
    cr, sr = math.cos(math.radians(2.5)), math.sin(math.radians(2.5))
    q = (c * cr, c * sr, s * sr, s * cr)  # yaw(30 deg) * roll(5 deg)
    assert quaternion_yaw(q) == pytest.approx(math.radians(30), abs=1e-9)
    with pytest.raises(FormatError, match="not a valid rotation"):
        quaternion_yaw((0.0, 0.0, 0.0, 0.0), "sample_annotation 42")


def test_bad_boxes_are_refused() -> None:
    with pytest.raises(FormatError, match="must be positive"):
        nuscenes_to_box(NuScenesBox((0, 0, 0), (1, 0, 1), (1, 0, 0, 0)))
    with pytest.raises(FormatError, match="non-finite"):
        nuscenes_to_box(NuScenesBox((math.nan, 0, 0), (1, 1, 1), (1, 0, 0, 0)))


def test_categories_map_to_known_classes() -> None:
    assert set(CATEGORY_TO_CLASS.values()) <= set(ALL_OBJECT_CLASSES)
    assert category_to_class("vehicle.bus.rigid") == "bus"
    assert category_to_class("human.pedestrian.wheelchair") == "wheelchair_user"
    assert category_to_class("static_object.bicycle_rack") is None


def test_lidar_top_sweep_is_read_with_the_axis_swap(tmp_path: Path) -> None:
    sweep = np.array([[2.0, 10.0, -1.5, 255.0, 3.0], [-1.0, 0.5, 0.2, 0.0, 31.0]], dtype="<f4")
    path = tmp_path / "n008__LIDAR_TOP__1.pcd.bin"
    path.write_bytes(sweep.tobytes())
    points = read_nuscenes_points(path)
    expected = np.array([[10.0, -2.0, -1.5, 1.0], [0.5, 1.0, 0.2, 0.0]], dtype=np.float32)
    assert np.array_equal(points, expected)
    path.write_bytes(sweep.tobytes()[:-4])
    with pytest.raises(
        FormatError, match=r"LIDAR_TOP__1\.pcd\.bin: size 36 bytes is not a multiple of the 20-byte"
    ):
        read_nuscenes_points(path)
    sweep[0, 3] = 300.0
    path.write_bytes(sweep.tobytes())
    with pytest.raises(FormatError, match=r"intensity range \[0, 300\]"):
        read_nuscenes_points(path)


def test_every_object_class_has_a_category_and_the_shared_ones_are_stated() -> None:
    from core.classes import UNKNOWN_OBSTACLE

    for name in (*ALL_OBJECT_CLASSES, UNKNOWN_OBSTACLE):
        category = class_to_category(name)
        assert category is not None, name
        back = category_to_class(category)
        # the module docstring names the classes that come back as another class
        lossy = {
            "overturned_car": "car",
            "person_with_object": "pedestrian",
            "deer": None,
            "dog": None,
            UNKNOWN_OBSTACLE: "debris",
        }
        assert back == lossy.get(name, name), name
    assert class_to_category("road") is None


def test_pose_quaternion_matches_the_rotation_matrix() -> None:
    from tests.core.formats.kitti_fixtures import rotation

    for roll, pitch, yaw in [(0.0, 0.0, 1.2), (0.1, -0.2, 2.9), (-0.3, 0.05, -3.0)]:
        w, x, y, z = pose_quaternion(roll, pitch, yaw)
        # the rotation matrix of a unit quaternion
        matrix = np.array(
            [
                [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
            ]
        )
        assert np.allclose(matrix, rotation(roll, pitch, yaw), atol=1e-12)
    assert pose_quaternion(0.0, 0.0, 0.7) == pytest.approx(yaw_quaternion(0.7))


@given(points=point_clouds())
@settings(max_examples=50, deadline=None)
def test_written_sweeps_read_back(
    tmp_path_factory: pytest.TempPathFactory, points: npt.NDArray[np.float32]
) -> None:
    path = tmp_path_factory.mktemp("sweep") / "a.pcd.bin"
    path.write_bytes(encode_nuscenes_points(points))
    back = read_nuscenes_points(path)
    assert np.array_equal(back[:, :3], points[:, :3])
    assert np.allclose(back[:, 3], points[:, 3], atol=1e-6)
