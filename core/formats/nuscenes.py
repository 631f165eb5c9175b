"""Converters between nuScenes boxes and Longtail boxes.

A nuScenes box is a centre (metres), a size in **w, l, h** order and a rotation quaternion
``(w, x, y, z)``. nuScenes boxes come in two frames that matter here:

* ``"lidar_top"``: the LIDAR_TOP sensor frame, **x right, y forward, z up**. Longtail's frame is
  x forward, y left, z up, so the converter rotates by -90 degrees about z:
  ``x_lt = y_ns``, ``y_lt = -x_ns``, ``z_lt = z_ns`` and ``yaw_lt = yaw_ns - pi/2``
  (the inverse: ``x_ns = -y_lt``, ``y_ns = x_lt``, ``yaw_ns = yaw_lt + pi/2``).
* ``"ego"``: the ego-vehicle frame, already x forward, y left, z up: no axis swap.

The heading is the yaw of the box's rotated +x axis (as the devkit's ``quaternion_yaw``); roll
and pitch, which nuScenes boxes do not use, are dropped. Written quaternions are yaw-only;
``pose_quaternion`` gives the full rotation of an ego pose (roll, pitch, yaw).

Categories: ``CATEGORY_TO_CLASS`` reads nuScenes categories as Longtail classes;
``CLASS_TO_CATEGORY`` is the category written for each Longtail class. Classes that share a
category or have none of their own come back as another class: overturned_car -> car
(``vehicle.car``), person_with_object -> pedestrian (``human.pedestrian.adult``), deer and dog ->
no class (``animal``), unknown_obstacle -> debris (``movable_object.debris``: nuScenes' object
too large to drive over).

``read_nuscenes_points`` reads a LIDAR_TOP sweep (``samples/LIDAR_TOP/*.pcd.bin``: float32
records of x, y, z, intensity 0..255, ring) into Longtail points with the same axis swap;
``encode_nuscenes_points`` writes one (ring 0: Longtail points carry no ring index).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from core.errors import FormatError
from core.formats._sweeps import load_nuscenes_bin
from core.formats.dataset import wrap_yaw
from core.formats.kitti_bin import validate_points

Frame = Literal["lidar_top", "ego"]
Box = tuple[float, float, float, float, float, float, float]

#: nuScenes category -> Longtail class; categories not listed have no Longtail class.
CATEGORY_TO_CLASS: dict[str, str] = {
    "vehicle.car": "car",
    "vehicle.emergency.police": "car",
    "vehicle.truck": "truck",
    "vehicle.construction": "truck",
    "vehicle.emergency.ambulance": "truck",
    "vehicle.trailer": "truck",
    "vehicle.bus.bendy": "bus",
    "vehicle.bus.rigid": "bus",
    "human.pedestrian.adult": "pedestrian",
    "human.pedestrian.child": "pedestrian",
    "human.pedestrian.construction_worker": "pedestrian",
    "human.pedestrian.police_officer": "pedestrian",
    "human.pedestrian.stroller": "stroller",
    "human.pedestrian.wheelchair": "wheelchair_user",
    "human.pedestrian.personal_mobility": "scooter_rider",
    "vehicle.bicycle": "cyclist",
    "vehicle.motorcycle": "cyclist",
    "movable_object.trafficcone": "traffic_cone",
    "movable_object.barrier": "construction_barrier",
    "movable_object.debris": "debris",
}

#: Longtail class -> the nuScenes category written for it (see the module docstring)
CLASS_TO_CATEGORY: dict[str, str] = {
    "car": "vehicle.car",
    "truck": "vehicle.truck",
    "bus": "vehicle.bus.rigid",
    "pedestrian": "human.pedestrian.adult",
    "cyclist": "vehicle.bicycle",
    "stroller": "human.pedestrian.stroller",
    "wheelchair_user": "human.pedestrian.wheelchair",
    "scooter_rider": "human.pedestrian.personal_mobility",
    "deer": "animal",
    "dog": "animal",
    "traffic_cone": "movable_object.trafficcone",
    "construction_barrier": "movable_object.barrier",
    "debris": "movable_object.debris",
    "overturned_car": "vehicle.car",
    "person_with_object": "human.pedestrian.adult",
    "unknown_obstacle": "movable_object.debris",
}


@dataclass(frozen=True)
class NuScenesBox:
    """A nuScenes box: centre (m), size (w, l, h in m), rotation quaternion (w, x, y, z)."""

    center: tuple[float, float, float]
    size_wlh: tuple[float, float, float]
    rotation_wxyz: tuple[float, float, float, float]
    category: str | None = None


def quaternion_yaw(q: Sequence[float], source: str = "box") -> float:
    """Yaw (radians) of the rotated +x axis of quaternion ``(w, x, y, z)``; normalises it first.

    A zero-length or non-finite quaternion is a FormatError.
    """
    w, x, y, z = (float(v) for v in q)
    norm = math.sqrt(w * w + x * x + y * y + z * z)
    if not math.isfinite(norm) or norm < 1e-9:
        raise FormatError(f"{source}: rotation quaternion {tuple(q)} is not a valid rotation")
    w, x, y, z = w / norm, x / norm, y / norm, z / norm
    # first column of the rotation matrix: the image of +x
    return math.atan2(2.0 * (x * y + w * z), 1.0 - 2.0 * (y * y + z * z))


def yaw_quaternion(yaw: float) -> tuple[float, float, float, float]:
    """The quaternion ``(w, x, y, z)`` of a rotation by ``yaw`` radians about +z."""
    return (math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2))


def pose_quaternion(roll: float, pitch: float, yaw: float) -> tuple[float, float, float, float]:
    """The quaternion ``(w, x, y, z)`` of an ego pose's rotation: yaw about +z, then pitch about
    the new +y, then roll about the new +x (radians; ``R = Rz(yaw) Ry(pitch) Rx(roll)``)."""
    cr, sr = math.cos(roll / 2), math.sin(roll / 2)
    cp, sp = math.cos(pitch / 2), math.sin(pitch / 2)
    cy, sy = math.cos(yaw / 2), math.sin(yaw / 2)
    return (
        cy * cp * cr + sy * sp * sr,
        cy * cp * sr - sy * sp * cr,
        cy * sp * cr + sy * cp * sr,
        sy * cp * cr - cy * sp * sr,
    )


def nuscenes_to_box(box: NuScenesBox, *, frame: Frame = "lidar_top", source: str = "box") -> Box:
    """Convert a nuScenes box in ``frame`` into a Longtail box (x forward, y left, z up)."""
    values = (*box.center, *box.size_wlh, *box.rotation_wxyz)
    if not all(math.isfinite(v) for v in values):
        raise FormatError(f"{source}: non-finite value in nuScenes box {box}")
    w, length, h = box.size_wlh
    if min(w, length, h) <= 0:
        raise FormatError(f"{source}: nuScenes box size {box.size_wlh} must be positive")
    yaw = quaternion_yaw(box.rotation_wxyz, source)
    x, y, z = box.center
    if frame == "lidar_top":
        x, y, yaw = y, -x, yaw - math.pi / 2
    return (x, y, z, length, w, h, wrap_yaw(yaw))


def box_to_nuscenes(
    box: Sequence[float], *, frame: Frame = "lidar_top", category: str | None = None
) -> NuScenesBox:
    """Convert a Longtail box into a nuScenes box expressed in ``frame``."""
    x, y, z, length, w, h, yaw = (float(v) for v in box)
    if frame == "lidar_top":
        x, y, yaw = -y, x, yaw + math.pi / 2
    return NuScenesBox((x, y, z), (w, length, h), yaw_quaternion(wrap_yaw(yaw)), category)


def category_to_class(category: str) -> str | None:
    """The Longtail class of a nuScenes category (None: no Longtail class, e.g. animals of
    unknown species or static objects)."""
    return CATEGORY_TO_CLASS.get(category)


def class_to_category(class_name: str) -> str | None:
    """The nuScenes category written for a Longtail class (None: not a Longtail object class)."""
    return CLASS_TO_CATEGORY.get(class_name)


def read_nuscenes_points(
    path: str | os.PathLike[str], *, columns: int = 5
) -> npt.NDArray[np.float32]:
    """Read a nuScenes LIDAR_TOP ``.pcd.bin`` sweep into Longtail float32 ``(N, 4)`` points.

    Records are ``columns`` little-endian float32 values (5: x, y, z, intensity, ring).
    Axes are swapped from LIDAR_TOP (x right, y forward) to x forward, y left; intensity is
    scaled from nuScenes' 0..255 (``core.formats.intensity``). A size that is not a whole
    number of records, non-finite values or an intensity beyond 0..255 is a FormatError naming
    the file. ``core.formats.pointfile.read_point_file`` also returns the ring.
    """
    return load_nuscenes_bin(path, columns=columns).points


def encode_nuscenes_points(points: npt.NDArray[np.float32], source: str = "points") -> bytes:
    """The ``.pcd.bin`` bytes of Longtail points in LIDAR_TOP axes: five little-endian float32
    values a point (x right, y forward, z up in metres, intensity 0..255, ring 0); the inverse
    of :func:`read_nuscenes_points` (intensity goes through a float32 multiply by 255)."""
    points = validate_points(np.asarray(points), source)
    out = np.zeros((points.shape[0], 5), dtype="<f4")
    out[:, 0] = -points[:, 1]
    out[:, 1] = points[:, 0]
    out[:, 2] = points[:, 2]
    out[:, 3] = points[:, 3] * np.float32(255.0)
    return bytes(out.tobytes())
