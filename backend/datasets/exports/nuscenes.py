"""nuScenes-style export: LIDAR_TOP sweeps and the devkit's table files as JSON.

Layout: ``samples/LIDAR_TOP/%06d.pcd.bin`` and ``v1.0-longtail/<table>.json`` for the tables
``scene`` (one per task: a task is a short sequence), ``sample``, ``sample_data``,
``ego_pose``, ``calibrated_sensor``, ``sensor``, ``category``, ``instance`` and
``sample_annotation``. Tokens are 32 hex digits derived from the version's digest, so an
export of one version always has the same tokens.

Conventions (``core.formats.nuscenes`` does every conversion):

* sweeps: five float32 values a point, LIDAR_TOP axes (x right, y forward, z up, metres),
  intensity 0..255, ring 0 (Longtail points carry no ring).
* ``sample_annotation``: ``translation`` (box centre, metres), ``size`` in **w, l, h** order,
  ``rotation`` a yaw-only quaternion (w, x, y, z) about +z, all in the **LIDAR_TOP frame of the
  annotation's sample** (what the devkit's ``get_sample_data`` returns), not in nuScenes' global
  frame: ``ego_pose`` holds the vehicle pose (the Longtail frame pose: translation x, y, z and
  the quaternion of roll, pitch, yaw; a component the frame lacks is 0) and ``calibrated_sensor`` the LIDAR_TOP axes relative to
  the ego frame (a -90 degree turn about z, no offset) for whoever needs global boxes.
  ``category_name`` is the nearest nuScenes category (``core.formats.nuscenes.CLASS_TO_CATEGORY``;
  overturned_car -> vehicle.car, person_with_object -> human.pedestrian.adult, deer and dog ->
  animal, unknown_obstacle and classes added to the ontology later -> movable_object.debris);
  ``longtail_class`` is the exact class, ``longtail_attributes`` the box's attributes,
  ``longtail_box_id`` its id. An ``instance`` is one track of one task (a track whose class
  changes becomes one instance per class); ``num_lidar_pts`` counts the points inside the box.

Lost on the way: per-point labels, and scores (not exported).
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from backend.datasets.exports.common import box_point_counts, frame_meta, meta_file, name_of
from backend.datasets.manifest import Manifest, canonical_json
from backend.datasets.versions import ExportFrame
from core.formats.nuscenes import (
    box_to_nuscenes,
    class_to_category,
    encode_nuscenes_points,
    pose_quaternion,
    yaw_quaternion,
)

TABLES_DIR = "v1.0-longtail"
CHANNEL = "LIDAR_TOP"

CONVENTIONS = {
    "points": "samples/LIDAR_TOP/*.pcd.bin: float32 x right, y forward, z up (m), intensity 0..255, ring 0",
    "boxes": "sample_annotation: LIDAR_TOP frame of the sample, centre, size w l h, yaw quaternion w x y z",
    "classes": "category_name is the nearest nuScenes category; longtail_class is exact",
    "lost": "per-point labels and scores",
}


def _token(digest: str, *parts: object) -> str:
    return hashlib.sha256(":".join([digest, *map(str, parts)]).encode()).hexdigest()[:32]


def _linked(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Set ``prev`` and ``next`` of records in sequence order."""
    for i, record in enumerate(records):
        record["prev"] = records[i - 1]["token"] if i else ""
        record["next"] = records[i + 1]["token"] if i + 1 < len(records) else ""
    return records


def files(
    digest: str, manifest: Manifest, frames: Iterable[ExportFrame]
) -> Iterator[tuple[str, bytes]]:
    """Every sweep as it is read, then the tables and ``longtail.json``."""
    sensor = {"token": _token(digest, "sensor"), "channel": CHANNEL, "modality": "lidar"}
    calibrated = {
        "token": _token(digest, "calibrated_sensor"),
        "sensor_token": sensor["token"],
        "translation": [0.0, 0.0, 0.0],
        "rotation": list(yaw_quaternion(-math.pi / 2)),
        "camera_intrinsic": [],
    }
    samples: dict[int, list[dict[str, Any]]] = defaultdict(list)  # by task (scene)
    sample_data: dict[int, list[dict[str, Any]]] = defaultdict(list)
    ego_poses: list[dict[str, Any]] = []
    # by instance: one object (task, track) of one class
    annotations: dict[tuple[int, int, str], list[dict[str, Any]]] = defaultdict(list)
    categories: dict[str, str] = {}
    rows = []
    for frame in frames:
        entry = frame.entry
        name = name_of(entry)
        filename = f"samples/{CHANNEL}/{name}.pcd.bin"
        yield filename, encode_nuscenes_points(frame.points, f"frame {entry.id}")
        timestamp_us = entry.captured_at_ns // 1000
        sample_token = _token(digest, "sample", entry.id)
        pose = {k: float(entry.pose.get(k, 0.0)) for k in ("x", "y", "z", "roll", "pitch", "yaw")}
        ego = {
            "token": _token(digest, "ego_pose", entry.id),
            "timestamp": timestamp_us,
            "translation": [pose["x"], pose["y"], pose["z"]],
            "rotation": list(pose_quaternion(pose["roll"], pose["pitch"], pose["yaw"])),
        }
        ego_poses.append(ego)
        samples[entry.task].append(
            {
                "token": sample_token,
                "timestamp": timestamp_us,
                "scene_token": _token(digest, "scene", entry.task),
            }
        )
        sample_data[entry.task].append(
            {
                "token": _token(digest, "sample_data", entry.id),
                "sample_token": sample_token,
                "ego_pose_token": ego["token"],
                "calibrated_sensor_token": calibrated["token"],
                "timestamp": timestamp_us,
                "fileformat": "pcd",
                "is_key_frame": True,
                "height": 0,
                "width": 0,
                "filename": filename,
                "longtail_frame_id": entry.id,
            }
        )
        for box, count in zip(
            frame.boxes, box_point_counts(frame.points, frame.boxes), strict=True
        ):
            category = class_to_category(box.class_name) or "movable_object.debris"
            categories.setdefault(category, _token(digest, "category", category))
            ns = box_to_nuscenes(box.box, frame="lidar_top", category=category)
            instance = (entry.task, box.track_id, box.class_name)
            annotations[instance].append(
                {
                    "token": _token(digest, "sample_annotation", entry.id, box.id),
                    "sample_token": sample_token,
                    "instance_token": _token(digest, "instance", *instance),
                    "attribute_tokens": [],
                    "visibility_token": "",
                    "translation": list(ns.center),
                    "size": list(ns.size_wlh),
                    "rotation": list(ns.rotation_wxyz),
                    "num_lidar_pts": count,
                    "num_radar_pts": 0,
                    "category_name": category,
                    "longtail_class": box.class_name,
                    "longtail_attributes": dict(box.attributes),
                    "longtail_box_id": box.id,
                }
            )
        rows.append(frame_meta(entry, sample_token=sample_token))
    scenes = []
    for task, records in sorted(samples.items()):
        _linked(records)
        _linked(sample_data[task])
        scenes.append(
            {
                "token": _token(digest, "scene", task),
                "name": f"task-{task}",
                "description": f"Longtail task {task}",
                "nbr_samples": len(records),
                "first_sample_token": records[0]["token"],
                "last_sample_token": records[-1]["token"],
                "log_token": "",
            }
        )
    instances = []
    for instance, records in sorted(annotations.items()):
        _linked(records)
        instances.append(
            {
                "token": _token(digest, "instance", *instance),
                "category_token": categories[records[0]["category_name"]],
                "nbr_annotations": len(records),
                "first_annotation_token": records[0]["token"],
                "last_annotation_token": records[-1]["token"],
            }
        )
    tables = {
        "scene": scenes,
        "sample": [r for t in sorted(samples) for r in samples[t]],
        "sample_data": [r for t in sorted(sample_data) for r in sample_data[t]],
        "ego_pose": ego_poses,
        "calibrated_sensor": [calibrated],
        "sensor": [sensor],
        "category": [
            {"token": t, "name": n, "description": ""} for n, t in sorted(categories.items())
        ],
        "instance": instances,
        "sample_annotation": [r for key in sorted(annotations) for r in annotations[key]],
    }
    for table, records in tables.items():
        yield f"{TABLES_DIR}/{table}.json", canonical_json(records)
    yield meta_file(digest, manifest, "nuscenes", CONVENTIONS, rows)
