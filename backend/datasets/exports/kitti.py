"""KITTI object-detection layout: ``velodyne/%06d.bin``, ``label_2/%06d.txt``, ``calib/%06d.txt``.

Conventions (``core.formats.kitti_label`` does every conversion):

* ``velodyne``: the frame's points as stored, float32 x, y, z, intensity in the LiDAR frame
  (x forward, y left, z up, metres; intensity 0..1).
* ``calib``: Longtail frames have no camera, so every calib file describes one virtual rig:
  ``Tr_velo_to_cam`` is the pure axis swap LiDAR -> camera (camera x = -LiDAR y, camera y =
  -LiDAR z, camera z = LiDAR x; no translation), ``R0_rect`` is the identity, and ``P0..P3``
  are one pinhole camera at the LiDAR origin looking along +x (KITTI's P2 focal length and
  principal point, no baseline). The 2D ``bbox`` columns are projections into that virtual
  camera, not boxes in a real image.
* ``label_2``: one line per box in KITTI's camera frame: ``location`` is the centre of the box's
  *bottom* face (Longtail stores the centre), dimensions are h, w, l, ``rotation_y = -yaw -
  pi/2`` about the camera's y (down) axis. Floats are written with Python's shortest exact
  repr (not KITTI's 2 decimals), so boxes come back exactly. Classes: car -> Car, truck ->
  Truck, bus -> Tram, pedestrian -> Pedestrian, cyclist -> Cyclist; other classes keep their
  Longtail name. ``occluded`` comes from the ``occluded`` attribute (none 0, partly 1, mostly
  2), ``truncated`` from ``truncated`` (no 0.0, yes 1.0); ``alpha`` is derived.

Lost on the way: track ids, box ids, the ``motion`` attribute and scores are not in KITTI
labels (``longtail.json`` keeps each line's box id and track id), and per-point labels are not
exported (see the SemanticKITTI export).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace

import numpy as np

from backend.annotation.labels import BoxLabel
from backend.datasets.exports.common import frame_meta, meta_file, name_of, velodyne_bytes
from backend.datasets.manifest import Manifest
from backend.datasets.versions import ExportFrame
from core.formats.kitti_calib import KittiCalib
from core.formats.kitti_label import KittiObject, box_to_kitti

#: KITTI's P2 intrinsics (focal length and principal point, pixels) for the virtual camera
FOCAL_PX = 721.5377
CENTRE_PX = (609.5593, 172.854)
OCCLUDED = {"none": 0, "partly": 1, "mostly": 2}
TRUNCATED = {"no": 0.0, "yes": 1.0}


def lidar_aligned_calib() -> KittiCalib:
    """The virtual rig of every exported frame (see the module docstring)."""
    swap = np.array([[0.0, -1.0, 0.0, 0.0], [0.0, 0.0, -1.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    cx, cy = CENTRE_PX
    p = np.array([[FOCAL_PX, 0.0, cx, 0.0], [0.0, FOCAL_PX, cy, 0.0], [0.0, 0.0, 1.0, 0.0]])
    return KittiCalib((p, p.copy(), p.copy(), p.copy()), np.eye(3), swap)


def kitti_object(box: BoxLabel, calib: KittiCalib) -> KittiObject:
    """The label line of a box, with occlusion and truncation from its attributes."""
    obj = box_to_kitti(box.box, box.class_name, calib)
    occluded = OCCLUDED.get(box.attributes.get("occluded", ""), obj.occluded)
    truncated = TRUNCATED.get(box.attributes.get("truncated", ""), obj.truncated)
    return replace(obj, occluded=occluded, truncated=truncated)


CONVENTIONS = {
    "points": "velodyne/*.bin: float32 x, y, z, intensity; LiDAR frame x forward, y left, z up (m)",
    "boxes": "label_2/*.txt: KITTI camera frame, bottom-face centre, h w l, rotation_y = -yaw - pi/2",
    "calib": "virtual camera at the LiDAR origin looking along +x; Tr_velo_to_cam is the axis swap",
    "lost": "track ids, box ids, the motion attribute and scores (see frames[].objects)",
}


def files(
    digest: str, manifest: Manifest, frames: Iterable[ExportFrame]
) -> Iterator[tuple[str, bytes]]:
    """The files of the KITTI export, frame by frame, then ``longtail.json``."""
    calib = lidar_aligned_calib()
    calib_text = calib.to_text().encode("ascii")
    rows = []
    for frame in frames:
        name = name_of(frame.entry)
        yield f"velodyne/{name}.bin", velodyne_bytes(frame.points, f"frame {frame.entry.id}")
        lines = [kitti_object(b, calib).to_line(decimals=None) + "\n" for b in frame.boxes]
        yield f"label_2/{name}.txt", "".join(lines).encode("ascii")
        yield f"calib/{name}.txt", calib_text
        objects = [{"id": b.id, "track_id": b.track_id} for b in frame.boxes]
        rows.append(frame_meta(frame.entry, objects=objects))
    yield meta_file(digest, manifest, "kitti", CONVENTIONS, rows)
