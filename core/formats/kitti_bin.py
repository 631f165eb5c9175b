"""KITTI velodyne ``.bin`` files: little-endian float32 records of (x, y, z, intensity).

Points are in the sensor frame (x forward, y left, z up, metres) with intensity in [0, 1].
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import numpy.typing as npt

from core.errors import FormatError

RECORD_BYTES = 16  # four float32 values per point


def validate_points(points: npt.NDArray[np.float32], source: str) -> npt.NDArray[np.float32]:
    """Check that ``points`` is a finite float32 ``(N, 4)`` array; return it C-contiguous.

    ``source`` names the file or stream in the error message.
    """
    if points.ndim != 2 or points.shape[1] != 4:
        raise FormatError(f"{source}: expected points of shape (N, 4), got {points.shape}")
    if points.dtype != np.float32:
        raise FormatError(f"{source}: expected float32 points, got {points.dtype}")
    # whole-array check first: reducing over the short axis 1 is ~30x slower on (N, 4) arrays
    if not np.isfinite(points).all():
        finite = np.isfinite(points).all(axis=1)
        bad = int(np.flatnonzero(~finite)[0])
        raise FormatError(
            f"{source}: {int((~finite).sum())} non-finite point(s), first at index {bad}: "
            f"{points[bad].tolist()}"
        )
    return np.ascontiguousarray(points)


def read_kitti_bin(path: str | os.PathLike[str]) -> npt.NDArray[np.float32]:
    """Read a KITTI velodyne file into a float32 ``(N, 4)`` array.

    Raises FormatError naming the file if its size is not a multiple of 16 bytes or any value
    is NaN or infinite.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FormatError(f"{path}: cannot read KITTI velodyne file: {exc.strerror}") from exc
    if len(raw) % RECORD_BYTES:
        raise FormatError(
            f"{path}: size {len(raw)} bytes is not a multiple of {RECORD_BYTES} "
            f"(truncated or not a KITTI velodyne file)"
        )
    points = np.frombuffer(raw, dtype="<f4").reshape(-1, 4).astype(np.float32)
    return validate_points(points, str(path))


def write_kitti_bin(path: str | os.PathLike[str], points: npt.NDArray[np.float32]) -> None:
    """Write points atomically (temp file, fsync, rename) as a KITTI velodyne file."""
    from core.formats.atomic import atomic_write_bytes

    points = validate_points(np.asarray(points), str(path))
    atomic_write_bytes(Path(path), points.astype("<f4", copy=False).tobytes())
