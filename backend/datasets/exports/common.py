"""What every export shares: frame file names, the KITTI velodyne bytes, point counts per box,
and the ``longtail.json`` that ties each exported file back to its frame, task and version."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from backend.annotation.labels import BoxLabel
from backend.datasets.manifest import FrameEntry, Manifest
from core.formats.dataset import frame_name
from core.formats.kitti_bin import validate_points
from core.geometry import points_in_boxes

#: the file in every export that names each frame's source
META_FILE = "longtail.json"


def name_of(entry: FrameEntry) -> str:
    """The file stem of a frame in every export (``%06d`` of its index in the version)."""
    return frame_name(entry.index)


def velodyne_bytes(points: npt.NDArray[np.float32], source: str) -> bytes:
    """KITTI velodyne ``.bin`` bytes: little-endian float32 x, y, z, intensity per point
    (sensor frame, metres; ``core.formats.kitti_bin``)."""
    return bytes(validate_points(points, source).astype("<f4", copy=False).tobytes())


def box_point_counts(points: npt.NDArray[np.float32], boxes: Sequence[BoxLabel]) -> list[int]:
    """Points inside each box (a point inside two boxes counts for the first)."""
    if not boxes:
        return []
    inside = points_in_boxes(points, np.array([b.box for b in boxes], dtype=np.float64))
    counts = np.bincount(inside[inside >= 0], minlength=len(boxes))
    return [int(c) for c in counts]


def meta_file(
    digest: str,
    manifest: Manifest,
    fmt: str,
    conventions: Mapping[str, Any],
    frames: Sequence[Mapping[str, Any]],
    **extra: Any,
) -> tuple[str, bytes]:
    """``longtail.json``: the version, the format's conventions and, per exported frame, its
    file stem, frame id (SHA-256 of its stored payload), task and vehicle."""
    document = {
        "dataset": digest,
        "format": fmt,
        "ontology_version": manifest.ontology_version,
        "conventions": dict(conventions),
        "frames": list(frames),
        **extra,
    }
    return META_FILE, json.dumps(document, indent=1, sort_keys=True, allow_nan=False).encode()


def frame_meta(entry: FrameEntry, **extra: Any) -> dict[str, Any]:
    """One ``frames`` row of ``longtail.json``."""
    return {
        "name": name_of(entry),
        "frame_id": entry.id,
        "task": entry.task,
        "vehicle": entry.vehicle,
        "captured_at_ns": entry.captured_at_ns,
        **extra,
    }
