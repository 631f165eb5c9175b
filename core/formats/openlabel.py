"""ASAM OpenLABEL 1.0 JSON documents to and from Longtail frame labels.

Each object is one ``objects`` entry keyed by its track id (``type`` = Longtail class); each
frame lists, per object, a ``cuboid`` in ``object_data`` with
``val = [x, y, z, qx, qy, qz, qw, sx, sy, sz]``: centre (metres), rotation quaternion and the
size along the box's own x (length, the heading), y (width) and z (height). The cuboids are in
the ``coordinate_system`` named by the writer (``"lidar"`` by default), which is the LiDAR
sensor frame of Longtail: x forward, y left, z up, like OpenLABEL's ISO 8855 vehicle frame, so
there is no axis swap. The reader also accepts the 9-value Euler form
``[x, y, z, rx, ry, rz, sx, sy, sz]`` (yaw = rz). The point count is an object_data ``num``
named ``num_points``; the frame's ``frame_properties`` carry ``timestamp`` (seconds),
``timestamp_ns`` and ``pose`` (x, y, z, roll, pitch, yaw) so Longtail frames round-trip.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from core.errors import FormatError
from core.formats.atomic import atomic_write_bytes
from core.formats.dataset import FrameLabels, ObjectLabel, wrap_yaw
from core.formats.nuscenes import quaternion_yaw

SCHEMA_VERSION = "1.0.0"


def _cuboid(label: ObjectLabel, coordinate_system: str) -> dict[str, Any]:
    x, y, z, length, w, h, yaw = label.box
    quaternion = [0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2)]
    return {
        "name": "box3d",
        "coordinate_system": coordinate_system,
        "val": [x, y, z, *quaternion, length, w, h],
    }


def to_openlabel(
    frames: Iterable[FrameLabels], *, coordinate_system: str = "lidar"
) -> dict[str, Any]:
    """Build an OpenLABEL document (a JSON-ready dict) from Longtail frame labels."""
    objects: dict[str, dict[str, Any]] = {}
    out_frames: dict[str, dict[str, Any]] = {}
    for frame in frames:
        frame_objects: dict[str, Any] = {}
        for label in frame.objects:
            uid = str(label.track_id)
            known = objects.setdefault(
                uid, {"name": f"{label.class_name}_{uid}", "type": label.class_name}
            )
            if known["type"] != label.class_name:
                raise FormatError(
                    f"frame {frame.index}: track {uid} is {label.class_name!r} here but "
                    f"{known['type']!r} in an earlier frame"
                )
            if uid in frame_objects:
                raise FormatError(f"frame {frame.index}: track {uid} appears twice")
            frame_objects[uid] = {
                "object_data": {
                    "cuboid": [_cuboid(label, coordinate_system)],
                    "num": [{"name": "num_points", "val": label.num_points}],
                }
            }
        out_frames[str(frame.index)] = {
            "objects": frame_objects,
            "frame_properties": {
                "timestamp": frame.timestamp_ns * 1e-9,
                "timestamp_ns": frame.timestamp_ns,
                "pose": list(frame.pose),
            },
        }
    return {
        "openlabel": {
            "metadata": {"schema_version": SCHEMA_VERSION},
            "coordinate_systems": {coordinate_system: {"type": "sensor_cs", "parent": ""}},
            "objects": objects,
            "frames": out_frames,
        }
    }


def _box_from_val(val: Any, where: str) -> tuple[float, float, float, float, float, float, float]:
    if not isinstance(val, list) or len(val) not in (9, 10):
        raise FormatError(f"{where}: cuboid val must be a list of 9 or 10 numbers, got {val!r}")
    try:
        v = [float(x) for x in val]
    except (TypeError, ValueError) as exc:
        raise FormatError(f"{where}: cuboid val has a non-number: {val!r}") from exc
    if not all(math.isfinite(x) for x in v):
        raise FormatError(f"{where}: cuboid val has non-finite values: {val!r}")
    if len(v) == 10:
        qx, qy, qz, qw = v[3:7]
        yaw = quaternion_yaw((qw, qx, qy, qz), where)
        size = v[7:10]
    else:
        yaw, size = v[5], v[6:9]
    if min(size) <= 0:
        raise FormatError(f"{where}: cuboid size {size} must be positive")
    return (v[0], v[1], v[2], size[0], size[1], size[2], wrap_yaw(yaw))


def _object_label(uid: str, entry: Any, objects: Mapping[str, Any], where: str) -> ObjectLabel:
    if uid not in objects or not isinstance(objects[uid], dict) or "type" not in objects[uid]:
        raise FormatError(f"{where}: object {uid!r} is not declared with a type in 'objects'")
    try:
        data = entry["object_data"]
        cuboids = [c for c in data["cuboid"] if isinstance(c, dict)]
        nums: dict[Any, Any] = {
            n.get("name"): n.get("val") for n in data.get("num", []) if isinstance(n, dict)
        }
    except (KeyError, TypeError, AttributeError) as exc:
        raise FormatError(f"{where}: object {uid!r} has no cuboid object_data") from exc
    if len(cuboids) != 1:
        raise FormatError(f"{where}: object {uid!r} has {len(cuboids)} cuboids, expected 1")
    box = _box_from_val(cuboids[0].get("val"), f"{where} object {uid!r}")
    try:
        track_id = int(uid)
        num_points = int(nums.get("num_points", -1))
    except (TypeError, ValueError) as exc:
        raise FormatError(f"{where}: object {uid!r}: {exc}") from exc
    return ObjectLabel(str(objects[uid]["type"]), track_id, box, num_points)


def from_openlabel(document: Any, source: str = "openlabel") -> list[FrameLabels]:
    """Longtail frame labels (sorted by frame index) from an OpenLABEL document.

    Object uids must be integers (they become track ids); a missing or malformed part is a
    FormatError naming ``source`` and the frame.
    """
    try:
        root = document["openlabel"]
        objects = root.get("objects", {})
        frames = root.get("frames", {})
        if not isinstance(objects, dict) or not isinstance(frames, dict):
            raise TypeError("objects and frames must be JSON objects")
    except (KeyError, TypeError, AttributeError) as exc:
        raise FormatError(f"{source}: not an OpenLABEL document: {exc}") from exc
    out = []
    for key, frame in frames.items():
        where = f"{source}: frame {key}"
        try:
            index = int(key)
            props = frame.get("frame_properties", {}) or {}
            timestamp_ns = int(
                props.get("timestamp_ns", round(float(props.get("timestamp", 0)) * 1e9))
            )
            pose = tuple(float(v) for v in props.get("pose", [0.0] * 6))
            entries = frame.get("objects", {}) or {}
        except (TypeError, ValueError, AttributeError) as exc:
            raise FormatError(f"{where}: bad frame entry: {exc}") from exc
        if len(pose) != 6:
            raise FormatError(f"{where}: pose must have 6 values, got {len(pose)}")
        labels = tuple(_object_label(uid, e, objects, where) for uid, e in entries.items())
        out.append(FrameLabels(index, timestamp_ns, pose, labels))
    return sorted(out, key=lambda f: f.index)


def write_openlabel(
    path: str | os.PathLike[str], frames: Iterable[FrameLabels], *, coordinate_system: str = "lidar"
) -> None:
    """Write frames as an OpenLABEL JSON file, atomically."""
    document = to_openlabel(frames, coordinate_system=coordinate_system)
    atomic_write_bytes(Path(path), json.dumps(document, indent=1).encode(), durable=False)


def read_openlabel(path: str | os.PathLike[str]) -> list[FrameLabels]:
    """Read an OpenLABEL JSON file into Longtail frame labels."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FormatError(f"{path}: cannot read OpenLABEL JSON: {exc}") from exc
    return from_openlabel(document, str(path))
