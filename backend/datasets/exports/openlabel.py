"""ASAM OpenLABEL export: ``openlabel.json`` and the point clouds it points at.

Layout: ``velodyne/%06d.bin`` (KITTI binary: float32 x, y, z, intensity) and one OpenLABEL 1.0
document, ``openlabel.json``, written by ``core.formats.openlabel.to_openlabel``.

Conventions:

* one OpenLABEL frame per dataset frame, keyed by the frame's index; ``frame_properties`` hold
  ``timestamp`` (s) and ``timestamp_ns`` (capture time), ``pose`` (x, y, z, roll, pitch, yaw of
  the vehicle in the world frame; metres, radians; a component the frame lacks is 0), ``frame_id`` (SHA-256 of the stored payload)
  and ``streams.lidar.uri`` (the frame's velodyne file);
* cuboids are in the coordinate system ``lidar``, the LiDAR sensor frame (x forward, y left, z
  up, like OpenLABEL's ISO 8855 vehicle frame: no axis swap): ``val = [x, y, z, qx, qy, qz, qw,
  l, w, h]``, the box centre, a yaw-only quaternion and the size along the box's own axes;
* objects: OpenLABEL object uids are integers unique in the document; each is one track of one
  task of one class (its static ``object_data.num`` holds ``task`` and ``track_id``); the
  object's ``type`` is its Longtail class; ``num_points`` counts the points inside the box;
  the box's attributes are ``text`` entries of its per-frame ``object_data``.

Lost on the way: box ids, scores and per-point labels. Everything else reads back with
``core.formats.openlabel.from_openlabel`` (tracks as the document's uids).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from backend.datasets.exports.common import (
    box_point_counts,
    frame_meta,
    meta_file,
    name_of,
    velodyne_bytes,
)
from backend.datasets.manifest import Manifest
from backend.datasets.versions import ExportFrame
from core.formats.dataset import FrameLabels, ObjectLabel
from core.formats.openlabel import to_openlabel

COORDINATE_SYSTEM = "lidar"
DOCUMENT = "openlabel.json"
POSE_KEYS = ("x", "y", "z", "roll", "pitch", "yaw")

CONVENTIONS = {
    "points": "velodyne/*.bin: float32 x, y, z, intensity; LiDAR frame x forward, y left, z up (m)",
    "boxes": "cuboid val = [x, y, z, qx, qy, qz, qw, l, w, h] in coordinate system 'lidar', centre",
    "objects": "uid = one track of one task of one class (object_data.num task, track_id)",
    "lost": "box ids, scores and per-point labels",
}


def files(
    digest: str, manifest: Manifest, frames: Iterable[ExportFrame]
) -> Iterator[tuple[str, bytes]]:
    """Every frame's points as it is read, then ``openlabel.json`` and ``longtail.json``."""
    uids: dict[tuple[Any, ...], int] = {}
    labelled: list[FrameLabels] = []
    extras: dict[int, dict[str, Any]] = {}  # per frame index: frame id, uri, attributes by uid
    rows = []
    for frame in frames:
        entry = frame.entry
        name = name_of(entry)
        uri = f"velodyne/{name}.bin"
        yield uri, velodyne_bytes(frame.points, f"frame {entry.id}")
        objects = []
        attributes: dict[int, dict[str, str]] = {}
        for box, count in zip(
            frame.boxes, box_point_counts(frame.points, frame.boxes), strict=True
        ):
            key: tuple[Any, ...] = (entry.task, box.track_id, box.class_name)
            uid = uids.setdefault(key, len(uids))
            if uid in attributes:  # the same track twice in one frame: its own object
                uid = uids.setdefault((*key, box.id), len(uids))
            attributes[uid] = dict(box.attributes)
            objects.append(ObjectLabel(box.class_name, uid, box.box, count))
        pose = tuple(float(entry.pose.get(k, 0.0)) for k in POSE_KEYS)
        labelled.append(FrameLabels(entry.index, entry.captured_at_ns, pose, tuple(objects)))  # type: ignore[arg-type]
        extras[entry.index] = {"frame_id": entry.id, "uri": uri, "attributes": attributes}
        rows.append(frame_meta(entry))
    document = to_openlabel(labelled, coordinate_system=COORDINATE_SYSTEM)
    root = document["openlabel"]
    root["streams"] = {COORDINATE_SYSTEM: {"type": "lidar", "description": "LiDAR sensor frame"}}
    for key, uid in uids.items():
        root["objects"][str(uid)]["object_data"] = {
            "num": [{"name": "task", "val": key[0]}, {"name": "track_id", "val": key[1]}]
        }
    for index, extra in extras.items():
        frame_doc = root["frames"][str(index)]
        frame_doc["frame_properties"]["frame_id"] = extra["frame_id"]
        frame_doc["frame_properties"]["streams"] = {COORDINATE_SYSTEM: {"uri": extra["uri"]}}
        for uid, attrs in extra["attributes"].items():
            frame_doc["objects"][str(uid)]["object_data"]["text"] = [
                {"name": k, "val": v} for k, v in sorted(attrs.items())
            ]
    yield DOCUMENT, json.dumps(document, indent=1, allow_nan=False).encode()
    yield meta_file(digest, manifest, "openlabel", CONVENTIONS, rows)
