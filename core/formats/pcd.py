"""Point Cloud Library ``.pcd`` files (v0.5-v0.7): ascii, binary and binary_compressed (LZF).

The reader takes fields ``x y z`` and optional ``intensity`` and ``ring`` (names matched without
regard to case); every other field is skipped by its byte width. Binary data are little-endian;
organised clouds (``HEIGHT`` > 1) are read as ``WIDTH * HEIGHT`` points in row order. Intensity is
scaled into [0, 1] by ``core.formats.intensity``. Points are taken as sensor-frame metres.

Real files do not always follow the format (issue 12: a 40-beam scene written by a widely used
labelling tool; Ouster/ROS exports with ``_`` padding). The reader follows what PCL and three.js
do and reads whatever can be read **unambiguously**, with one warning per file saying what was
inconsistent and what was done (``core.formats._pcd_body`` resolves the data section):

* a field with ``COUNT 0`` occupies no bytes (PCL drops it; three.js adds ``SIZE * 0``);
  ``intensity``/``ring`` with COUNT 0 count as absent;
* padding fields named ``_`` (any number of them, any width) are skipped;
* ``POINTS`` disagreeing with ``WIDTH * HEIGHT``: the one the data section matches is used;
* a binary data section longer than the header says: whole bytes per record the header does not
  describe (the record is wider than the fields add up to) are skipped per record; otherwise the
  extra bytes after the last record are ignored. When both readings fit the size, the one whose
  coordinates are finite and plausible is used; when both are, the file is refused as ambiguous;
* SIZE/TYPE/COUNT lists shorter or longer than FIELDS: fields up to the last one read must be
  described; the record width then comes from the data section;
* ascii lines with more values than declared: the declared columns are read;
* a binary_compressed block followed by extra bytes, or expanding to more bytes than declared.

Refused (FormatError naming the file and the value): a header without FIELDS, SIZE, TYPE or
DATA, without WIDTH and POINTS, or with non-integer numbers; a missing ``x``/``y``/``z``, or one of
x/y/z/intensity with an unknown TYPE/SIZE, COUNT 0 or undescribed fields before it; a data section
shorter than the declared points (truncated); ragged or non-numeric ascii data; corrupt LZF data;
more than ``MAX_POINTS`` points.
"""

from __future__ import annotations

import logging
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from core.errors import FormatError
from core.formats._lzf import lzf_compress
from core.formats._pcd_body import decode_columns
from core.formats._points import PointFile, assemble_points, read_header_and_body
from core.formats.atomic import atomic_write_bytes
from core.formats.kitti_bin import validate_points

log = logging.getLogger(__name__)

PcdData = Literal["ascii", "binary", "binary_compressed"]
_DATA_KINDS: dict[str, PcdData] = {
    "ascii": "ascii",
    "binary": "binary",
    "binary_compressed": "binary_compressed",
}

#: numpy type of each (TYPE, SIZE) pair PCD defines
TYPES = {
    ("F", 4): "<f4",
    ("F", 8): "<f8",
    ("I", 1): "i1",
    ("I", 2): "<i2",
    ("I", 4): "<i4",
    ("I", 8): "<i8",
    ("U", 1): "u1",
    ("U", 2): "<u2",
    ("U", 4): "<u4",
    ("U", 8): "<u8",
}
#: refuse headers claiming more points than this before allocating anything
MAX_POINTS = 50_000_000
#: largest accepted COUNT of one field (histogram descriptors reach a few hundred)
MAX_COUNT = 4096
#: largest accepted SIZE of one field element, bytes
MAX_SIZE = 64
#: the fields read; x, y, z are required
WANTED = ("x", "y", "z", "intensity", "ring")


@dataclass(frozen=True)
class PcdField:
    """One FIELDS entry; ``size``, ``type`` and ``count`` are None where the header's lists are
    shorter than FIELDS."""

    name: str
    size: int | None
    type: str | None
    count: int | None

    @property
    def nbytes(self) -> int | None:
        """Bytes of one point's value(s) of this field, None if undescribed."""
        return None if self.size is None or self.count is None else self.size * self.count

    @property
    def described(self) -> bool:
        return self.size is not None and self.type is not None and self.count is not None


@dataclass(frozen=True)
class PcdHeader:
    """The parsed header of a PCD file: every FIELDS entry, the point-count lines as written
    (None when absent), the data kind and whether SIZE/TYPE/COUNT describe exactly FIELDS."""

    fields: tuple[PcdField, ...]
    width: int | None
    height: int | None
    points: int | None
    data: PcdData
    complete: bool

    def record_bytes(self) -> int | None:
        """Bytes of one binary record as declared, None if the lists do not describe it."""
        if not self.complete:
            return None
        return sum(f.nbytes or 0 for f in self.fields)

    def values_per_point(self) -> int | None:
        """Ascii values of one point as declared, None if the lists do not describe it."""
        if not self.complete:
            return None
        return sum(f.count or 0 for f in self.fields)

    def point_counts(self) -> list[int]:
        """Candidate point counts, the header's preferred first: POINTS, then WIDTH * HEIGHT."""
        counts: list[int] = []
        if self.points is not None:
            counts.append(self.points)
        if self.width is not None:
            wh = self.width * (self.height if self.height is not None else 1)
            if wh not in counts:
                counts.append(wh)
        return counts


@dataclass(frozen=True)
class WantedField:
    """Where one read field lives: its index in FIELDS, byte offset in a record, column in an
    ascii line, numpy type of its first element."""

    name: str
    index: int
    offset: int
    column: int
    dtype: np.dtype[np.generic]


def _ints(values: list[str], key: str, source: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in values)
    except ValueError as exc:
        raise FormatError(f"{source}: {key} must be integers, got {values}") from exc


def _one_int(values: list[str] | None, key: str, source: str) -> int | None:
    if values is None:
        return None
    if len(values) != 1:
        raise FormatError(f"{source}: {key} must be one integer, got {values}")
    value = _ints(values, key, source)[0]
    if not 0 <= value <= MAX_POINTS:
        raise FormatError(f"{source}: {key} {value} is out of range (0..{MAX_POINTS})")
    return value


def parse_header(lines: list[str], source: str, warnings: list[str]) -> PcdHeader:
    """Parse the header lines (up to and including ``DATA``) of a PCD file; tolerated
    inconsistencies are appended to ``warnings``."""
    entries: dict[str, list[str]] = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            key, *values = line.split()
            entries[key.upper()] = values
    for key in ("FIELDS", "SIZE", "TYPE", "DATA"):
        if key not in entries:
            raise FormatError(f"{source}: PCD header has no {key} line")
    if "WIDTH" not in entries and "POINTS" not in entries:
        raise FormatError(f"{source}: PCD header has neither WIDTH nor POINTS")
    names = entries["FIELDS"]
    sizes = _ints(entries["SIZE"], "SIZE", source)
    types = tuple(t.upper() for t in entries["TYPE"])
    counts = _ints(entries["COUNT"], "COUNT", source) if "COUNT" in entries else (1,) * len(names)
    lengths = (len(names), len(sizes), len(types), len(counts))
    complete = len(set(lengths)) == 1
    if not complete:
        warnings.append(
            f"FIELDS/SIZE/TYPE/COUNT have {'/'.join(map(str, lengths))} entries: fields up to "
            f"the last one read must be described, the record width is taken from the data"
        )
    fields: list[PcdField] = []
    for i, name in enumerate(names):
        size = sizes[i] if i < len(sizes) else None
        count = counts[i] if i < len(counts) else None
        if size is not None and not 0 <= size <= MAX_SIZE:
            raise FormatError(f"{source}: field {name!r} has SIZE {size}, must be 0..{MAX_SIZE}")
        if count is not None and not 0 <= count <= MAX_COUNT:
            raise FormatError(f"{source}: field {name!r} has COUNT {count}, must be 0..{MAX_COUNT}")
        fields.append(PcdField(name, size, types[i] if i < len(types) else None, count))
    zero = [f.name for f in fields if f.count == 0]
    if zero:
        warnings.append(
            f"field(s) {zero} have COUNT 0: taken as occupying no bytes (as PCL and three.js do)"
        )
    data = " ".join(entries["DATA"]).lower()
    kind = _DATA_KINDS.get(data)
    if kind is None:
        raise FormatError(f"{source}: unsupported DATA {data!r}")
    return PcdHeader(
        tuple(fields),
        _one_int(entries.get("WIDTH"), "WIDTH", source),
        _one_int(entries.get("HEIGHT"), "HEIGHT", source),
        _one_int(entries.get("POINTS"), "POINTS", source),
        kind,
        complete,
    )


def locate_fields(header: PcdHeader, source: str, warnings: list[str]) -> dict[str, WantedField]:
    """Find x, y, z (required), intensity and ring (optional) and where they lie.

    A wanted field needs every field before it described (its offset depends on them) and a
    known (TYPE, SIZE); x/y/z that fail this are refused, intensity and ring are refused and
    dropped with a warning respectively.
    """
    found: dict[str, WantedField] = {}
    offset = column = 0
    prefix_ok = True
    for index, field in enumerate(header.fields):
        key = field.name.lower()
        if key in WANTED and key in found:
            warnings.append(f"field {field.name!r} appears twice: the first one is read")
        elif key in WANTED:
            problem = None
            if not prefix_ok or not field.described:
                problem = "it or a field before it has no SIZE/TYPE/COUNT entry"
            elif field.count == 0:
                problem = "it has COUNT 0"
            elif (field.type, field.size) not in TYPES:
                problem = f"TYPE {field.type} SIZE {field.size} is not a PCD type"
            if problem is None:
                dtype = np.dtype(TYPES[(field.type or "", field.size or 0)])
                found[key] = WantedField(key, index, offset, column, dtype)
            elif key == "ring":
                warnings.append(f"field 'ring' cannot be read ({problem}): ring dropped")
            elif key == "intensity" and field.count == 0:
                warnings.append("field 'intensity' has COUNT 0: treated as absent")
            else:
                raise FormatError(f"{source}: cannot read field {field.name!r}: {problem}")
        if not field.described:
            prefix_ok = False
        else:
            offset += field.nbytes or 0
            column += field.count or 0
    for axis in ("x", "y", "z"):
        if axis not in found:
            names = [f.name for f in header.fields]
            raise FormatError(f"{source}: PCD has no {axis!r} field (fields {names})")
    return found


def load_pcd(path: str | os.PathLike[str], *, drop_invalid: bool = False) -> PointFile:
    """Read a PCD file into a ``PointFile`` (points, ring, intensity rule, warnings).

    With ``drop_invalid`` points whose x, y or z is NaN/inf (the no-return markers of organised
    clouds) are dropped; otherwise they make the file invalid. What cannot be read
    unambiguously is a FormatError naming the file (see the module docstring).
    """
    lines, body, source = read_header_and_body(path, b"DATA", "PCD")
    warnings: list[str] = []
    header = parse_header(lines, source, warnings)
    wanted = locate_fields(header, source, warnings)
    columns = decode_columns(header, wanted, body, source, warnings)
    return assemble_points(
        columns["x"],
        columns["y"],
        columns["z"],
        columns.get("intensity"),
        source,
        fmt="pcd",
        warnings=warnings,
        drop_invalid=drop_invalid,
        ring=columns.get("ring"),
    )


def read_pcd(
    path: str | os.PathLike[str], *, drop_invalid: bool = False
) -> npt.NDArray[np.float32]:
    """Read a PCD file into float32 ``(N, 4)`` points (x, y, z metres, intensity in [0, 1]);
    ``load_pcd`` also returns the ring, the intensity rule and the warnings (logged here)."""
    read = load_pcd(path, drop_invalid=drop_invalid)
    if read.warnings:
        log.warning("%s: %s", path, "; ".join(read.warnings))
    return read.points


def encode_pcd(points: npt.NDArray[np.float32], *, data: PcdData = "binary") -> bytes:
    """Encode float32 ``(N, 4)`` points as a PCD v0.7 file with float32 x y z intensity fields."""
    points = validate_points(np.asarray(points), "points")
    n = points.shape[0]
    header = (
        "# .PCD v0.7 - Point Cloud Data file format\nVERSION 0.7\nFIELDS x y z intensity\n"
        f"SIZE 4 4 4 4\nTYPE F F F F\nCOUNT 1 1 1 1\nWIDTH {n}\nHEIGHT 1\n"
        f"VIEWPOINT 0 0 0 1 0 0 0\nPOINTS {n}\nDATA {data}\n"
    ).encode("ascii")
    little = points.astype("<f4", copy=False)
    if data == "ascii":
        # '%.9g' is enough digits for every float32 to read back bit-exactly
        text = np.strings.mod("%.9g", little.astype(np.float64)) if n else np.zeros((0, 4), str)
        rows = "\n".join(map(" ".join, text.tolist()))
        return header + rows.encode("ascii") + (b"\n" if n else b"")
    if data == "binary":
        return header + little.tobytes()
    if data == "binary_compressed":
        plain = np.ascontiguousarray(little.T).tobytes()  # one column after another
        packed = lzf_compress(plain)
        return header + struct.pack("<II", len(packed), len(plain)) + packed
    raise ValueError(f"unknown PCD data kind {data!r}")


def write_pcd(
    path: str | os.PathLike[str], points: npt.NDArray[np.float32], *, data: PcdData = "binary"
) -> None:
    """Write points atomically as a PCD file (see ``encode_pcd``)."""
    atomic_write_bytes(Path(path), encode_pcd(points, data=data), durable=False)
