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
import struct
from pathlib import Path

import numpy as np

from core.errors import FormatError
from core.formats._points import PointFile, assemble_points

#: refuse headers claiming more points than this before reading them
MAX_POINTS = 50_000_000
#: the first bytes of every LAS and LAZ file
SIGNATURE = b"LASF"
#: bytes of a variable-length record's header, and of an extended one (LAS 1.4)
VLR_HEADER = 54
EVLR_HEADER = 60


def check_record_counts(head: bytes, size: int, source: str) -> None:
    """Refuse a header whose record counts the file cannot hold, before ``laspy`` sees it:
    laspy believes the VLR count and loops over up to 2**32 records that are not there (a
    single flipped byte made it spin for minutes). ``head``: the file's first bytes (at least
    the public header block), ``size``: its length in bytes."""
    if len(head) < 107:
        raise FormatError(f"{source}: LAS header cut at {len(head)} bytes (needs at least 107)")
    header_size, point_offset, vlrs = struct.unpack_from("<HII", head, 94)
    if header_size > point_offset or point_offset > size:
        raise FormatError(
            f"{source}: LAS header size {header_size} and point data offset {point_offset} "
            f"do not fit a file of {size} bytes"
        )
    if vlrs * VLR_HEADER > point_offset - header_size:
        raise FormatError(
            f"{source}: LAS header declares {vlrs} variable-length records, but only "
            f"{point_offset - header_size} bytes lie between the header and the points"
        )
    if head[104] & 0x80:  # LAZ: lazrs allocates the chunk table the file declares, unchecked
        _check_chunk_table(head, point_offset, size, source)
    if head[25:26] == b"\x04" and len(head) >= 247:  # LAS 1.4: extended VLRs after the points
        start, evlrs = struct.unpack_from("<QI", head, 235)
        if evlrs and (start > size or evlrs * EVLR_HEADER > size - start):
            raise FormatError(
                f"{source}: LAS header declares {evlrs} extended records from byte {start}, "
                f"beyond a file of {size} bytes"
            )


def _check_chunk_table(head: bytes, point_offset: int, size: int, source: str) -> None:
    """The LAZ chunk table (its file offset is the first 8 bytes of the point data; -1: none)
    must lie in the file, be of version 0 and list no more chunks than there are points: a
    damaged count of 2e9 made lazrs ask for 31 GB and abort the whole process."""
    if point_offset + 8 > size:
        raise FormatError(f"{source}: LAZ point data at byte {point_offset} of {size}: no data")
    table = struct.unpack("<q", _read_at(source, point_offset, 8))[0]
    if table == -1:
        return
    if not 0 <= table <= size - 8:
        raise FormatError(f"{source}: LAZ chunk table at byte {table}, outside a file of {size}")
    version, chunks = struct.unpack("<II", _read_at(source, table, 8))
    points = struct.unpack_from("<I", head, 107)[0]
    if head[25:26] == b"\x04" and len(head) >= 255:
        points = max(points, struct.unpack_from("<Q", head, 247)[0])
    if version != 0 or chunks > max(points, 1):
        raise FormatError(
            f"{source}: LAZ chunk table (version {version}) lists {chunks} chunks for "
            f"{points} points"
        )


def _read_at(source: str, offset: int, n: int) -> bytes:
    with open(source, "rb") as raw:
        raw.seek(offset)
        return raw.read(n)


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
        with open(path, "rb") as raw:
            head = raw.read(375)
            size = os.fstat(raw.fileno()).st_size
    except OSError as exc:
        raise FormatError(f"{source}: cannot read LAS/LAZ file: {exc}") from exc
    check_record_counts(head, size, source)
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
