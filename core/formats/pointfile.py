"""The one entry for reading a point file of any supported format: ``read_point_file``.

The format comes from the file itself, never from a guess at its size:

========================  =========================================================  ==============
first bytes / name        format                                                     ``format``
========================  =========================================================  ==============
``LASF``                  ASPRS LAS, or LAZ when its points are compressed (laspy)   ``las``/``laz``
``ply`` line              Stanford PLY, ascii or binary (``core.formats.ply``)       ``ply``
a PCD header              PCL PCD (``VERSION``/``FIELDS`` ... ``DATA`` lines;        ``pcd``
                          ``core.formats.pcd``)
no header, ``*.pcd.bin``  nuScenes LIDAR_TOP sweep: float32 x, y, z, intensity,      ``nuscenes_bin``
                          ring (``core.formats._sweeps``)
no header, ``*.bin``      KITTI velodyne: float32 x, y, z, intensity                 ``kitti_bin``
========================  =========================================================  ==============

Anything else is refused with a FormatError naming the file. A headerless binary whose size is
not a whole number of its records is refused naming the file, the size and the record size. A
file whose header contradicts its name (a PCD header in ``scan.bin``) is read by its header,
with a warning. Every reader returns float32 ``(N, 4)`` x, y, z (metres, sensor frame) and
intensity in [0, 1] (``core.formats.intensity`` states the rule) plus the ring where the file
has one; warnings are logged once per distinct problem (``log_warnings``) and kept on the
result. A cloud reaching farther than ``MAX_RANGE_M`` from the sensor is refused: it is not a
sensor-frame sweep (georeferenced coordinates) or the file was misread.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from pathlib import Path

from core.errors import FormatError
from core.formats._points import PointFile
from core.formats._sweeps import load_kitti_bin, load_nuscenes_bin
from core.formats.las import SIGNATURE as LAS_SIGNATURE
from core.formats.las import load_las
from core.formats.pcd import load_pcd
from core.formats.ply import load_ply

__all__ = [
    "MAX_RANGE_M",
    "POINT_FILE_SUFFIXES",
    "PointFile",
    "detect_format",
    "frame_stem",
    "is_point_file",
    "log_warnings",
    "read_point_file",
]

log = logging.getLogger(__name__)

#: file name endings a directory replay and the dataset layout read (``.pcd.bin`` ends in .bin)
POINT_FILE_SUFFIXES = (".bin", ".pcd", ".ply", ".las", ".laz")
#: farthest point accepted from the sensor, metres (the longest-range automotive LiDARs reach
#: about 500 m; 10 km leaves room for any of them and refuses georeferenced or misread data)
MAX_RANGE_M = 10_000.0
#: bytes looked at to recognise a header
_SNIFF_BYTES = 4096
_PCD_KEYS = (b"VERSION", b"FIELDS", b"SIZE", b"TYPE", b"COUNT", b"WIDTH", b"HEIGHT", b"POINTS")


def frame_stem(path: Path) -> str:
    """The file name without its point-file suffix: ``000007.pcd.bin`` -> ``000007``."""
    name = path.name
    for suffix in (".pcd.bin", *POINT_FILE_SUFFIXES):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def is_point_file(path: Path) -> bool:
    """True if the name ends in one of ``POINT_FILE_SUFFIXES`` (case-insensitive)."""
    return path.name.lower().endswith(POINT_FILE_SUFFIXES)


def _looks_like_pcd(head: bytes) -> bool:
    """A PCD header: its first line that is not a comment starts with a PCD header key."""
    for line in head.split(b"\n"):
        line = line.strip()
        if not line or line.startswith(b"#"):
            continue
        return line.split()[0].upper() in _PCD_KEYS
    return False


def detect_format(path: Path, head: bytes) -> str:
    """The format of ``path`` from its first bytes ``head`` (header formats) or, for a file
    with no header, its name (see the module docstring); FormatError if neither says."""
    if head.startswith(LAS_SIGNATURE):
        return "las"
    if head.startswith((b"ply\n", b"ply\r\n")):
        return "ply"
    if _looks_like_pcd(head):
        return "pcd"
    name = path.name.lower()
    if name.endswith(".pcd.bin"):
        return "nuscenes_bin"
    if name.endswith(".bin"):
        return "kitti_bin"
    raise FormatError(
        f"{path}: unknown point file format: no LAS, PLY or PCD header, and the name ends "
        f"in neither .bin (KITTI) nor .pcd.bin (nuScenes)"
    )


def _expected_format(path: Path) -> str | None:
    name = path.name.lower()
    for suffix, fmt in ((".pcd.bin", "nuscenes_bin"), (".bin", "kitti_bin"), (".pcd", "pcd")):
        if name.endswith(suffix):
            return fmt
    for suffix, fmt in ((".ply", "ply"), (".las", "las"), (".laz", "las")):
        if name.endswith(suffix):
            return fmt
    return None


def read_point_file(path: str | os.PathLike[str], *, drop_invalid: bool = True) -> PointFile:
    """Read any supported point file (module docstring) into a ``PointFile``.

    ``drop_invalid`` drops PCD/PLY points with non-finite x, y or z (no-return markers of
    organised clouds; counted in the warnings); headerless binaries have no such markers and a
    non-finite value there is always an error. Warnings are logged (``log_warnings``).
    Raises FormatError naming the file for whatever cannot be read unambiguously.
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError as exc:
        raise FormatError(f"{path}: cannot read point file: {exc.strerror}") from exc
    fmt = detect_format(path, head)
    if fmt == "las":
        read = load_las(path)
    elif fmt == "ply":
        read = load_ply(path, drop_invalid=drop_invalid)
    elif fmt == "pcd":
        read = load_pcd(path, drop_invalid=drop_invalid)
    elif fmt == "nuscenes_bin":
        read = load_nuscenes_bin(path)
    else:
        read = load_kitti_bin(path)
    expected = _expected_format(path)
    if expected is not None and expected != fmt:
        note = f"the name says {expected} but the file has a {fmt} header: read as {fmt}"
        read = dataclasses.replace(read, warnings=(*read.warnings, note))
    _check_range(read, path)
    log_warnings(path, read.warnings)
    return read


def _check_range(read: PointFile, path: Path) -> None:
    if not len(read.points):
        return
    # over the whole contiguous array (intensity is within [0, 1]): a strided (N, 3) view
    # reduces ten times slower
    reach = max(float(read.points.max()), -float(read.points.min()))
    if reach > MAX_RANGE_M:
        raise FormatError(
            f"{path}: a coordinate reaches {reach:.6g} m from the sensor, beyond "
            f"{MAX_RANGE_M:g} m: not a sensor-frame sweep (georeferenced?) or misread"
        )


_seen_lock = threading.Lock()
_seen: set[str] = set()


def log_warnings(path: Path, warnings: tuple[str, ...]) -> None:
    """Log each warning of ``path``: at WARNING the first time its kind (the text before any
    number) is seen in this process, at DEBUG after that, so a drive of a thousand files
    with the same quirk says it once, not a thousand times."""
    for warning in warnings:
        kind = warning.split(":")[0].rstrip("0123456789 ")
        kind = "".join(c for c in kind if not c.isdigit())
        with _seen_lock:
            first = kind not in _seen
            _seen.add(kind)
        if first:
            log.warning("%s: %s (further files with this are logged at DEBUG)", path, warning)
        else:
            log.debug("%s: %s", path, warning)
