"""KITTI ``label_2/%06d.txt`` object labels and their conversion to Longtail boxes.

A KITTI label line is ``type truncated occluded alpha x1 y1 x2 y2 h w l x y z rotation_y
[score]``: the box is in the rectified camera frame (x right, y down, z forward, metres),
``(x, y, z)`` is the centre of the box's *bottom* face, sizes are in h, w, l order and
``rotation_y`` is the heading about the camera's y axis (0 = facing the camera's +x).

Longtail boxes are ``(x, y, z, l, w, h, yaw)`` in the LiDAR frame, centre of the box, yaw about
+z from +x in (-pi, pi]. The conversion (through ``KittiCalib``):

* centre: the KITTI bottom centre mapped to the LiDAR frame, raised by ``h / 2`` along LiDAR +z;
* heading: ``yaw = -(rotation_y + pi/2) + delta``, where ``delta`` is the yaw of the camera's
  optical axis in the LiDAR frame (about 0 for KITTI rigs). Boxes stay upright in both frames;
  the sub-degree roll and pitch between camera and LiDAR are not carried into the heading, so
  both directions are exact inverses of each other.

Class mapping, KITTI -> Longtail: Car -> car; Van, Truck -> truck; Pedestrian, Person_sitting ->
pedestrian; Cyclist -> cyclist; Tram -> bus (the closest common class: a long, tall passenger
vehicle); Misc and DontCare are skipped (no Longtail class, or no object). A type that is already
a Longtail class name (e.g. ``traffic_cone``, ``unknown_obstacle``) maps to itself. Longtail -> KITTI: car -> Car,
truck -> Truck, bus -> Tram, pedestrian -> Pedestrian, cyclist -> Cyclist, and the rare classes
keep their Longtail name (KITTI's evaluation ignores unknown types), so every class round-trips.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.classes import ALL_OBJECT_CLASSES, UNKNOWN_OBSTACLE
from core.errors import FormatError
from core.formats.atomic import atomic_write_bytes
from core.formats.dataset import ObjectLabel, wrap_yaw
from core.formats.kitti_calib import KittiCalib
from core.geometry.boxes import box_corners_3d

Box = tuple[float, float, float, float, float, float, float]

KITTI_TO_LONGTAIL: dict[str, str | None] = {
    "Car": "car",
    "Van": "truck",
    "Truck": "truck",
    "Pedestrian": "pedestrian",
    "Person_sitting": "pedestrian",
    "Cyclist": "cyclist",
    "Tram": "bus",
    "Misc": None,
    "DontCare": None,
}
LONGTAIL_TO_KITTI: dict[str, str] = {
    "car": "Car",
    "truck": "Truck",
    "bus": "Tram",
    "pedestrian": "Pedestrian",
    "cyclist": "Cyclist",
}
#: KITTI's image size (pixels) used to clip projected 2D boxes
KITTI_IMAGE_SIZE = (1242, 375)


@dataclass(frozen=True)
class KittiObject:
    """One line of a KITTI label file (rectified camera frame, metres, radians, pixels)."""

    type: str
    truncated: float
    occluded: int
    alpha: float
    bbox: tuple[float, float, float, float]  # left, top, right, bottom in pixels
    dimensions: tuple[float, float, float]  # h, w, l
    location: tuple[float, float, float]  # bottom centre x, y, z
    rotation_y: float
    score: float | None = None

    def to_line(self, decimals: int | None = 2) -> str:
        """One label line; ``decimals=None`` writes shortest exact floats instead of KITTI's 2."""

        def num(v: float) -> str:
            return repr(float(v)) if decimals is None else f"{v:.{decimals}f}"

        values = [self.truncated, self.alpha, *self.bbox, *self.dimensions, *self.location]
        words = [self.type, num(values[0]), str(self.occluded), *map(num, values[1:])]
        words.append(num(self.rotation_y))
        if self.score is not None:
            words.append(num(self.score))
        return " ".join(words)


def parse_kitti_label(text: str, source: str) -> list[KittiObject]:
    """Parse label text (15 or 16 values a line); ``source`` names the file in errors."""
    objects = []
    for number, line in enumerate(text.splitlines(), start=1):
        words = line.split()
        if not words:
            continue
        if len(words) not in (15, 16):
            raise FormatError(
                f"{source}: line {number}: expected 15 or 16 values, got {len(words)}: {line!r}"
            )
        try:
            v = [float(w) for w in words[1:]]
            occluded = int(words[2])
        except ValueError as exc:
            raise FormatError(f"{source}: line {number}: {exc}") from exc
        if not all(math.isfinite(x) for x in v):
            raise FormatError(f"{source}: line {number}: non-finite value in {line!r}")
        objects.append(
            KittiObject(
                type=words[0],
                truncated=v[0],
                occluded=occluded,
                alpha=v[2],
                bbox=(v[3], v[4], v[5], v[6]),
                dimensions=(v[7], v[8], v[9]),
                location=(v[10], v[11], v[12]),
                rotation_y=v[13],
                score=v[14] if len(v) == 15 else None,
            )
        )
    return objects


def read_kitti_label(path: str | os.PathLike[str]) -> list[KittiObject]:
    """Read a KITTI label file; a malformed line is a FormatError naming the file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise FormatError(f"{path}: cannot read KITTI label file: {exc}") from exc
    return parse_kitti_label(text, str(path))


def write_kitti_label(
    path: str | os.PathLike[str], objects: Iterable[KittiObject], *, decimals: int | None = 2
) -> None:
    """Write a KITTI label file atomically (KITTI's own files use 2 decimals)."""
    text = "".join(o.to_line(decimals) + "\n" for o in objects)
    atomic_write_bytes(Path(path), text.encode("ascii"), durable=False)


def kitti_type_to_class(kitti_type: str, source: str = "label") -> str | None:
    """The Longtail class of a KITTI type, or None for types that are skipped."""
    if kitti_type in KITTI_TO_LONGTAIL:
        return KITTI_TO_LONGTAIL[kitti_type]
    if kitti_type in ALL_OBJECT_CLASSES or kitti_type == UNKNOWN_OBSTACLE:
        return kitti_type
    raise FormatError(f"{source}: unknown KITTI object type {kitti_type!r}")


def class_to_kitti_type(class_name: str) -> str:
    """The KITTI type written for a Longtail class (rare classes keep their own name)."""
    return LONGTAIL_TO_KITTI.get(class_name, class_name)


def _camera_yaw_offset(calib: KittiCalib) -> float:
    """Yaw (radians, LiDAR frame) of the rectified camera's optical axis (+z)."""
    forward = calib.rect_to_velo()[:3, 2]
    return math.atan2(float(forward[1]), float(forward[0]))


def kitti_to_box(obj: KittiObject, calib: KittiCalib) -> Box:
    """Convert a KITTI camera-frame box into a Longtail LiDAR-frame box (see module doc)."""
    h, w, length = obj.dimensions
    x, y, z = calib.rect_to_lidar(obj.location)[0]
    yaw = wrap_yaw(-(obj.rotation_y + math.pi / 2) + _camera_yaw_offset(calib))
    return (float(x), float(y), float(z) + h / 2, length, w, h, yaw)


def _image_box(
    box: Box, calib: KittiCalib, image_size: tuple[int, int]
) -> tuple[float, float, float, float]:
    """The 2D box (pixels, clipped to the image) of the box's corners through P2; zeros if any
    corner is behind the camera."""
    rect = calib.lidar_to_rect(box_corners_3d([box])[0])
    if (rect[:, 2] <= 0.1).any():
        return (0.0, 0.0, 0.0, 0.0)
    uvw = np.hstack([rect, np.ones((8, 1))]) @ calib.p[2].T
    u, v = uvw[:, 0] / uvw[:, 2], uvw[:, 1] / uvw[:, 2]
    width, height = image_size
    return (
        float(np.clip(u.min(), 0, width - 1)),
        float(np.clip(v.min(), 0, height - 1)),
        float(np.clip(u.max(), 0, width - 1)),
        float(np.clip(v.max(), 0, height - 1)),
    )


def box_to_kitti(
    box: Sequence[float],
    class_name: str,
    calib: KittiCalib,
    *,
    score: float | None = None,
    image_size: tuple[int, int] = KITTI_IMAGE_SIZE,
) -> KittiObject:
    """Convert a Longtail LiDAR-frame box into a KITTI label object (see module doc).

    ``alpha`` is derived from the heading and the viewing direction; the 2D box is the
    projection of the corners through P2, clipped to ``image_size``; truncation is 0 and
    occlusion 3 ("unknown"), since a box alone does not tell them.
    """
    x, y, z, length, w, h, yaw = (float(v) for v in box)
    location = calib.lidar_to_rect([x, y, z - h / 2])[0]
    rotation_y = wrap_yaw(-(yaw - _camera_yaw_offset(calib)) - math.pi / 2)
    alpha = wrap_yaw(rotation_y - math.atan2(float(location[0]), float(location[2])))
    return KittiObject(
        type=class_to_kitti_type(class_name),
        truncated=0.0,
        occluded=3,
        alpha=alpha,
        bbox=_image_box((x, y, z, length, w, h, yaw), calib, image_size),
        dimensions=(h, w, length),
        location=(float(location[0]), float(location[1]), float(location[2])),
        rotation_y=rotation_y,
        score=score,
    )


def kitti_to_labels(
    objects: Iterable[KittiObject], calib: KittiCalib, source: str = "label"
) -> list[ObjectLabel]:
    """Longtail labels for the objects of one KITTI frame; DontCare and Misc are skipped.

    KITTI object labels carry neither a track id nor a point count: both are -1 ("unknown").
    """
    labels = []
    for obj in objects:
        class_name = kitti_type_to_class(obj.type, source)
        if class_name is None:
            continue
        if min(obj.dimensions) <= 0:
            raise FormatError(f"{source}: {obj.type} has non-positive size {obj.dimensions}")
        labels.append(ObjectLabel(class_name, -1, kitti_to_box(obj, calib), -1))
    return labels


def labels_to_kitti(labels: Iterable[ObjectLabel], calib: KittiCalib) -> list[KittiObject]:
    """KITTI objects for Longtail labels (one per label, in order)."""
    return [box_to_kitti(label.box, label.class_name, calib) for label in labels]
