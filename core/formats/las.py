"""ASPRS LAS and LAZ point files, through ``laspy`` (LAZ through its ``lazrs`` backend).

x, y, z are the scaled coordinates (``X * scale + offset``, metres) taken as the sensor frame;
intensity is the 16-bit ``intensity`` of every point format, scaled by the integer rule of
``core.formats.intensity`` (8-bit values, which many writers store despite the specification's
16-bit convention, are divided by 255). A file whose intensities are all 0 (the field is
optional in LAS) is read with a warning. LAS has no ring index.

Refused (FormatError naming the file): an unreadable or truncated file, a point count that the
data do not hold, LAZ data without a decompressor, more than ``MAX_POINTS`` points, and anything
``laspy`` itself refuses (its message is quoted).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from core.errors import FormatError
from core.formats._points import PointFile, assemble_points

#: refuse headers claiming more points than this before reading them
MAX_POINTS = 50_000_000
#: the first bytes of every LAS and LAZ file
SIGNATURE = b"LASF"


def load_las(path: str | os.PathLike[str]) -> PointFile:
    """Read a LAS or LAZ file into a ``PointFile`` (format ``las`` or ``laz``)."""
    source = str(path)
    try:
        import laspy
    except ImportError as exc:  # laspy comes with longtail[vehicle] and longtail[cloud]
        raise FormatError(
            f"{source}: reading LAS/LAZ needs the laspy package (install longtail[vehicle])"
        ) from exc
    warnings: list[str] = []
    try:
        with laspy.open(Path(path)) as reader:
            header = reader.header
            declared = int(header.point_count)
            if declared > MAX_POINTS:
                raise FormatError(f"{source}: header claims {declared} points, above {MAX_POINTS}")
            compressed = bool(header.are_points_compressed)
            data = reader.read_points(declared)
        x, y, z = (np.asarray(data[axis], dtype=np.float64) for axis in ("x", "y", "z"))
        intensity = np.asarray(data["intensity"])
    except FormatError:
        raise
    except Exception as exc:  # laspy's own errors are not one closed set: name the file
        raise FormatError(f"{source}: cannot read LAS/LAZ file: {exc}") from exc
    if len(x) != declared:
        raise FormatError(
            f"{source}: header says {declared} points but the file holds {len(x)} (truncated)"
        )
    if declared and not intensity.any():
        warnings.append("every intensity is 0 (LAS intensity is optional): read as 0")
    return assemble_points(
        x,
        y,
        z,
        intensity,
        source,
        fmt="laz" if compressed else "las",
        warnings=warnings,
    )
