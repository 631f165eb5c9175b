"""SUSTechPOINTS label files (``label/<frame>.json``) and their conversion to Longtail boxes.

A label file is a JSON list of objects or (newer versions of the tool) a JSON object whose
``objs`` holds that list. Each object has ``obj_type`` (the class, e.g. ``Car``), ``obj_id`` (the
track id as text, possibly empty), an optional free-text ``obj_attr``, and ``psr``:

* ``position`` {x, y, z}: the centre of the box (metres),
* ``scale`` {x, y, z}: the size along the box's own axes: x the length (along the heading),
  y the width, z the height (metres),
* ``rotation`` {x, y, z}: Euler angles roll, pitch, yaw (radians; yaw about +z from +x, not
  wrapped: the tool writes 4.3 as readily as -1.9),

all in the LiDAR frame of the point cloud the box was drawn on. Longtail's frame is the same
(x forward, y left, z up), so the conversion to ``(x, y, z, l, w, h, yaw)`` is a copy with the
yaw wrapped to (-pi, pi]; roll and pitch are dropped (Longtail boxes are upright). Written
objects have roll = pitch = 0.

Class mapping, SUSTechPOINTS -> Longtail: Car, PoliceCar, TourCar -> car; Van, Truck,
ConcreteTruck, LongVehicle and the construction machines (Excavator, Crane, RoadRoller,
Bulldozer, ForkLift) -> truck (as nuScenes' ``vehicle.construction``); Bus, Tram -> bus (as
KITTI's Tram); Pedestrian, RoadWorker, Child -> pedestrian; BicycleRider, MotorcycleRider (and
the tool's spelling MotorcyleRider), Rider -> cyclist; ScooterRider -> scooter_rider; BabyCart ->
stroller; Cone -> traffic_cone; TrafficBarrier, RoadBarrel -> construction_barrier; Unknown,
Unknown1..Unknown5 -> unknown_obstacle; DontCare and Misc are skipped (as in KITTI). A type that
is already a Longtail class name maps to itself. Types with no Longtail class (riderless
Bicycle, Scooter, Motorcycle, Motor; Animal of unknown species; FireHydrant, SaftyTriangle,
TrashCan, carts, tricycles, BicycleGroup, ...) are refused by :func:`sustech_type_to_class`;
the caller decides whether to map them to ``unknown_obstacle``.

Longtail -> SUSTechPOINTS: car -> Car, truck -> Truck, bus -> Bus, pedestrian -> Pedestrian,
cyclist -> BicycleRider, scooter_rider -> ScooterRider, stroller -> BabyCart, traffic_cone ->
Cone, construction_barrier -> TrafficBarrier, unknown_obstacle -> Unknown; the other rare
classes keep their Longtail name, so every class round-trips.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.classes import ALL_OBJECT_CLASSES, UNKNOWN_OBSTACLE
from core.errors import FormatError
from core.formats.atomic import atomic_write_bytes
from core.formats.dataset import wrap_yaw

Box = tuple[float, float, float, float, float, float, float]
Vector = tuple[float, float, float]

SUSTECH_TO_LONGTAIL: dict[str, str | None] = {
    "Car": "car",
    "PoliceCar": "car",
    "TourCar": "car",
    "Van": "truck",
    "Truck": "truck",
    "ConcreteTruck": "truck",
    "LongVehicle": "truck",
    "Excavator": "truck",
    "Crane": "truck",
    "RoadRoller": "truck",
    "Bulldozer": "truck",
    "ForkLift": "truck",
    "Bus": "bus",
    "Tram": "bus",
    "Pedestrian": "pedestrian",
    "RoadWorker": "pedestrian",
    "Child": "pedestrian",
    "BicycleRider": "cyclist",
    "MotorcycleRider": "cyclist",
    "MotorcyleRider": "cyclist",
    "Rider": "cyclist",
    "ScooterRider": "scooter_rider",
    "BabyCart": "stroller",
    "Cone": "traffic_cone",
    "TrafficBarrier": "construction_barrier",
    "RoadBarrel": "construction_barrier",
    "Unknown": UNKNOWN_OBSTACLE,
    **{f"Unknown{i}": UNKNOWN_OBSTACLE for i in range(1, 6)},
    "DontCare": None,
    "Misc": None,
}
LONGTAIL_TO_SUSTECH: dict[str, str] = {
    "car": "Car",
    "truck": "Truck",
    "bus": "Bus",
    "pedestrian": "Pedestrian",
    "cyclist": "BicycleRider",
    "scooter_rider": "ScooterRider",
    "stroller": "BabyCart",
    "traffic_cone": "Cone",
    "construction_barrier": "TrafficBarrier",
    UNKNOWN_OBSTACLE: "Unknown",
}


@dataclass(frozen=True)
class SustechObject:
    """One object of a SUSTechPOINTS label file (LiDAR frame, metres, radians)."""

    obj_type: str
    obj_id: str
    position: Vector
    scale: Vector  # length, width, height along the box's own x, y, z
    rotation: Vector  # roll, pitch, yaw
    attr: str = ""

    def to_json(self) -> dict[str, Any]:
        def xyz(v: Vector) -> dict[str, float]:
            return {"x": v[0], "y": v[1], "z": v[2]}

        out: dict[str, Any] = {
            "obj_type": self.obj_type,
            "obj_id": self.obj_id,
            "psr": {
                "position": xyz(self.position),
                "scale": xyz(self.scale),
                "rotation": xyz(self.rotation),
            },
        }
        if self.attr:
            out["obj_attr"] = self.attr
        return out


def _vector(raw: Any, where: str) -> Vector:
    if not isinstance(raw, Mapping):
        raise FormatError(f"{where} must be an object with x, y, z, got {raw!r}")
    values = []
    for axis in ("x", "y", "z"):
        value = raw.get(axis)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise FormatError(f"{where}.{axis} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise FormatError(f"{where}.{axis} must be finite, got {value!r}")
        values.append(float(value))
    return (values[0], values[1], values[2])


def parse_sustech_label(document: Any, source: str) -> list[SustechObject]:
    """The objects of a parsed label file (a list, or an object with ``objs``); a malformed
    object is a FormatError naming ``source`` and the object's position in the list."""
    items = document.get("objs") if isinstance(document, Mapping) else document
    if not isinstance(items, list):
        raise FormatError(
            f"{source}: expected a list of objects or an object with 'objs', "
            f"got {type(document).__name__}"
        )
    objects = []
    for index, item in enumerate(items):
        where = f"{source}: object {index}"
        if not isinstance(item, Mapping):
            raise FormatError(f"{where}: expected an object, got {item!r}")
        obj_type, obj_id, psr = item.get("obj_type"), item.get("obj_id", ""), item.get("psr")
        if not isinstance(obj_type, str) or not obj_type:
            raise FormatError(f"{where}: obj_type must be a non-empty string, got {obj_type!r}")
        if isinstance(obj_id, bool) or not isinstance(obj_id, str | int):
            raise FormatError(f"{where}: obj_id must be a string or integer, got {obj_id!r}")
        if not isinstance(psr, Mapping):
            raise FormatError(f"{where}: psr must be an object, got {psr!r}")
        attr = item.get("obj_attr", "")
        objects.append(
            SustechObject(
                obj_type=obj_type,
                obj_id=str(obj_id),
                position=_vector(psr.get("position"), f"{where}: psr.position"),
                scale=_vector(psr.get("scale"), f"{where}: psr.scale"),
                rotation=_vector(psr.get("rotation"), f"{where}: psr.rotation"),
                attr=attr if isinstance(attr, str) else str(attr),
            )
        )
    return objects


def read_sustech_label(path: str | os.PathLike[str]) -> list[SustechObject]:
    """Read a label file; unreadable JSON or a malformed object is a FormatError naming it."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FormatError(f"{path}: cannot read SUSTechPOINTS label JSON: {exc}") from exc
    return parse_sustech_label(document, str(path))


def write_sustech_label(path: str | os.PathLike[str], objects: Iterable[SustechObject]) -> None:
    """Write a label file (a JSON list, as the tool saves it) atomically."""
    text = json.dumps([o.to_json() for o in objects], indent=1)
    atomic_write_bytes(Path(path), text.encode(), durable=False)


def sustech_to_box(obj: SustechObject, source: str = "label") -> Box:
    """The Longtail box of an object (see the module docstring); a non-positive size is a
    FormatError naming ``source``."""
    if min(obj.scale) <= 0:
        raise FormatError(f"{source}: {obj.obj_type} has non-positive scale {obj.scale}")
    x, y, z = obj.position
    length, width, height = obj.scale
    return (x, y, z, length, width, height, wrap_yaw(obj.rotation[2]))


def box_to_sustech(
    box: Sequence[float], class_name: str, obj_id: str = "", attr: str = ""
) -> SustechObject:
    """The SUSTechPOINTS object of a Longtail box (roll and pitch 0)."""
    x, y, z, length, width, height, yaw = (float(v) for v in box)
    return SustechObject(
        class_to_sustech_type(class_name),
        obj_id,
        (x, y, z),
        (length, width, height),
        (0.0, 0.0, yaw),
        attr,
    )


def sustech_type_to_class(obj_type: str, source: str = "label") -> str | None:
    """The Longtail class of a SUSTechPOINTS type, None for skipped types (DontCare, Misc); a
    type with no Longtail class is a FormatError naming ``source`` and the type."""
    if obj_type in SUSTECH_TO_LONGTAIL:
        return SUSTECH_TO_LONGTAIL[obj_type]
    if obj_type in ALL_OBJECT_CLASSES or obj_type == UNKNOWN_OBSTACLE:
        return obj_type
    raise FormatError(f"{source}: SUSTechPOINTS type {obj_type!r} has no Longtail class")


def class_to_sustech_type(class_name: str) -> str:
    """The SUSTechPOINTS type written for a Longtail class (rare classes keep their name)."""
    return LONGTAIL_TO_SUSTECH.get(class_name, class_name)
