"""SemanticKITTI export: one sequence of scans with a class and an instance per point.

Layout: ``sequences/00/velodyne/%06d.bin`` (float32 x, y, z, intensity, LiDAR frame x forward,
y left, z up, metres) and ``sequences/00/labels/%06d.label`` (one little-endian uint32 per point,
in the order of the velodyne file: ``semantic | instance << 16``), written by
``core.formats.semantic_kitti``.

Conventions:

* semantic ids are SemanticKITTI's own (``semantic-kitti.yaml``: 40 road, 10 car, ...), mapped
  from Longtail's by ``core.formats.semantic_kitti_classes``, whose table says which Longtail
  classes have an equivalent and which do not: curb -> sidewalk; overturned_car -> car;
  person_with_object, wheelchair_user -> person; scooter_rider -> motorcyclist;
  construction_barrier -> fence; stroller, deer, dog, traffic_cone, debris, unknown_obstacle ->
  other-object. ``longtail.json`` repeats the table used.
* instance ids are the Longtail instance ids (the object's track id within its task, 16 bits),
  0 for stuff and unlabelled points.
* a frame whose accepted labels carry no point labels gets a label file of zeros (unlabeled):
  ``longtail.json`` lists those frames under ``unlabelled_frames``.

Lost on the way: the Longtail classes the table merges (they read back as the class their
SemanticKITTI id stands for), and the boxes (see the other exports).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from backend.datasets.exports.common import frame_meta, meta_file, name_of, velodyne_bytes
from backend.datasets.manifest import Manifest
from backend.datasets.versions import ExportFrame
from core.formats.semantic_kitti import encode_point_labels
from core.formats.semantic_kitti_classes import (
    LONGTAIL_TO_SEMANTIC_KITTI,
    SEMANTIC_KITTI_NAMES,
    to_semantic_kitti,
)

SEQUENCE = "sequences/00"

CONVENTIONS = {
    "points": f"{SEQUENCE}/velodyne/*.bin: float32 x, y, z, intensity; x forward, y left, z up (m)",
    "labels": f"{SEQUENCE}/labels/*.label: uint32 semantic | instance << 16, SemanticKITTI ids",
    "lost": "Longtail classes without a SemanticKITTI equivalent (see class_map) and boxes",
}


def files(
    digest: str, manifest: Manifest, frames: Iterable[ExportFrame]
) -> Iterator[tuple[str, bytes]]:
    """Every scan and its labels as they are read, then ``longtail.json``."""
    rows = []
    unlabelled = []
    for frame in frames:
        entry = frame.entry
        name = name_of(entry)
        source = f"frame {entry.id}"
        yield f"{SEQUENCE}/velodyne/{name}.bin", velodyne_bytes(frame.points, source)
        n = frame.points.shape[0]
        if frame.point_labels is None:
            unlabelled.append(name)
            semantic = np.zeros(n, dtype=np.uint16)
            instance = np.zeros(n, dtype=np.uint16)
        else:
            semantic = to_semantic_kitti(frame.point_labels.semantic, source)
            instance = frame.point_labels.instance
        yield f"{SEQUENCE}/labels/{name}.label", encode_point_labels(semantic, instance, source)
        rows.append(frame_meta(entry))
    class_map = {
        name: {"id": sk, "name": SEMANTIC_KITTI_NAMES[sk]}
        for name, sk in sorted(LONGTAIL_TO_SEMANTIC_KITTI.items())
    }
    yield meta_file(
        digest,
        manifest,
        "semantickitti",
        CONVENTIONS,
        rows,
        class_map=class_map,
        unlabelled_frames=unlabelled,
    )
