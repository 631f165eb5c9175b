"""Headerless binary sweeps: KITTI velodyne ``.bin`` and nuScenes LIDAR_TOP ``.pcd.bin``.

Neither has a header, so the format comes from the file name (``core.formats.pointfile``) and
the size must be a whole number of records of that format:

* KITTI ``.bin``: little-endian float32 x, y, z, intensity (16 bytes a point), sensor frame
  x forward, y left, z up; intensity declared [0, 1];
* nuScenes ``.pcd.bin``: little-endian float32 x, y, z, intensity, ring (20 bytes a point) in
  LIDAR_TOP axes (x right, y forward, z up), read with the axis swap of ``core.formats.nuscenes``
  (``x = y_ns``, ``y = -x_ns``); intensity declared 0..255.

Intensity goes through ``core.formats.intensity`` with the declared scale, so a file that
contradicts it is read by the stated rule with a warning, or refused.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import numpy.typing as npt

from core.errors import FormatError
from core.formats._points import PointFile, assemble_points, finish_points

#: bytes of one KITTI record (four float32)
KITTI_RECORD_BYTES = 16
#: bytes of one nuScenes LIDAR_TOP record (five float32)
NUSCENES_RECORD_BYTES = 20


def _records(path: Path, columns: int, kind: str) -> npt.NDArray[np.float32]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FormatError(f"{path}: cannot read {kind} file: {exc.strerror}") from exc
    record = 4 * columns
    if len(raw) % record:
        raise FormatError(
            f"{path}: size {len(raw)} bytes is not a multiple of the {record}-byte {kind} "
            f"record ({columns} float32 a point; truncated, or not a {kind} file)"
        )
    return np.frombuffer(raw, dtype="<f4").reshape(-1, columns)


def load_kitti_bin(path: str | os.PathLike[str]) -> PointFile:
    """Read a KITTI velodyne ``.bin`` file (see the module docstring) into a ``PointFile``."""
    path = Path(path)
    points = _records(path, 4, "KITTI velodyne").astype(np.float32)  # a writable copy
    return finish_points(
        points, points[:, 3], str(path), fmt="kitti_bin", warnings=[], declared="unit"
    )


def load_nuscenes_bin(path: str | os.PathLike[str], *, columns: int = 5) -> PointFile:
    """Read a nuScenes LIDAR_TOP ``.pcd.bin`` sweep (see the module docstring) into a
    ``PointFile`` in Longtail axes, with the ring column (the fifth value) when there is one."""
    path = Path(path)
    if columns < 4:
        raise FormatError(f"{path}: a nuScenes sweep has at least 4 values a point, not {columns}")
    values = _records(path, columns, "nuScenes LIDAR_TOP")
    return assemble_points(
        values[:, 1],
        -values[:, 0],
        values[:, 2],
        values[:, 3],
        str(path),
        fmt="nuscenes_bin",
        warnings=[],
        ring=values[:, 4] if columns >= 5 else None,
        declared="8bit",
    )
