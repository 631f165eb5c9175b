"""Stanford ``.ply`` point clouds: ascii, binary_little_endian and binary_big_endian.

The reader takes the ``vertex`` element's ``x y z`` and optional ``intensity`` and ``ring``
properties (intensity missing -> 0, scaled into [0, 1] by ``core.formats.intensity``); other vertex
properties and other elements (faces, ...) are skipped, walking rows with list properties in
binary files so the file's total size is still checked. Points are taken as sensor-frame metres.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numba
import numpy as np
import numpy.typing as npt

from core.errors import FormatError
from core.formats._pcd_body import NO_FINAL_NEWLINE
from core.formats._points import PointFile, assemble_points, read_header_and_body
from core.formats.atomic import atomic_write_bytes
from core.formats.kitti_bin import validate_points

log = logging.getLogger(__name__)

PlyFormat = Literal["ascii", "binary_little_endian", "binary_big_endian"]
_FORMATS: dict[str, PlyFormat] = {
    "ascii": "ascii",
    "binary_little_endian": "binary_little_endian",
    "binary_big_endian": "binary_big_endian",
}

_TYPES = {
    "char": "i1",
    "int8": "i1",
    "uchar": "u1",
    "uint8": "u1",
    "short": "i2",
    "int16": "i2",
    "ushort": "u2",
    "uint16": "u2",
    "int": "i4",
    "int32": "i4",
    "uint": "u4",
    "uint32": "u4",
    "float": "f4",
    "float32": "f4",
    "double": "f8",
    "float64": "f8",
}
#: refuse headers claiming more vertices than this before allocating anything
MAX_POINTS = 50_000_000


@dataclass(frozen=True)
class PlyElement:
    """One ``element`` of the header with its properties: (name, numpy type code) or, for a list
    property, (name, ``"list:<count type>:<item type>"``)."""

    name: str
    count: int
    properties: tuple[tuple[str, str], ...]

    @property
    def has_lists(self) -> bool:
        return any(kind.startswith("list") for _, kind in self.properties)

    def row_layout(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Per property: the fixed byte size (or -1 for a list) and the list count/item sizes
        packed as ``count_size * 16 + item_size`` (0 for fixed properties)."""
        fixed = np.zeros(len(self.properties), dtype=np.int64)
        lists = np.zeros(len(self.properties), dtype=np.int64)
        for i, (_, kind) in enumerate(self.properties):
            if kind.startswith("list"):
                _, count_type, item_type = kind.split(":")
                fixed[i] = -1
                lists[i] = np.dtype(count_type).itemsize * 16 + np.dtype(item_type).itemsize
            else:
                fixed[i] = np.dtype(kind).itemsize
        return fixed, lists

    def dtype(self, byte_order: str) -> np.dtype[np.void]:
        return np.dtype(
            [(f"p{i}", byte_order + kind) for i, (_, kind) in enumerate(self.properties)]
        )

    def index(self, name: str) -> int | None:
        names = [prop for prop, _ in self.properties]
        return names.index(name) if name in names else None


def parse_header(lines: list[str], source: str) -> tuple[PlyFormat, list[PlyElement]]:
    """Parse the header lines (``ply`` .. ``end_header``) into the format and elements."""
    if not lines or lines[0].strip() != "ply":
        raise FormatError(f"{source}: not a PLY file (first line {lines[:1]!r}, expected 'ply')")
    fmt: str | None = None
    elements: list[tuple[str, int, list[tuple[str, str]]]] = []
    for number, line in enumerate(lines[1:], start=2):
        words = line.split()
        if not words or words[0] in ("comment", "obj_info", "end_header"):
            continue
        if words[0] == "format" and len(words) == 3:
            fmt = words[1]
        elif words[0] == "element" and len(words) == 3:
            try:
                count = int(words[2])
            except ValueError as exc:
                raise FormatError(
                    f"{source}: line {number}: bad element count {words[2]!r}"
                ) from exc
            if count < 0 or count > MAX_POINTS:
                raise FormatError(f"{source}: line {number}: element count {count} out of range")
            elements.append((words[1], count, []))
        elif words[0] == "property" and elements:
            if len(words) == 5 and words[1] == "list":
                if words[2] not in _TYPES or words[3] not in _TYPES:
                    raise FormatError(f"{source}: line {number}: unknown list types in {line!r}")
                elements[-1][2].append((words[4], f"list:{_TYPES[words[2]]}:{_TYPES[words[3]]}"))
            elif len(words) == 3 and words[1] in _TYPES:
                elements[-1][2].append((words[2], _TYPES[words[1]]))
            else:
                raise FormatError(f"{source}: line {number}: bad property line {line!r}")
        else:
            raise FormatError(f"{source}: line {number}: unexpected header line {line!r}")
    kind = _FORMATS.get(fmt or "")
    if kind is None:
        raise FormatError(f"{source}: unsupported or missing PLY format {fmt!r}")
    return kind, [PlyElement(name, count, tuple(props)) for name, count, props in elements]


@numba.njit(cache=True, nogil=True)
def _walk_rows(
    data: npt.NDArray[np.uint8],
    offset: int,
    rows: int,
    fixed: npt.NDArray[np.int64],
    lists: npt.NDArray[np.int64],
    big_endian: bool,
) -> int:
    """Offset after ``rows`` rows of an element with list properties, or -1 past the end."""
    end = data.shape[0]
    for _ in range(rows):
        for p in range(fixed.shape[0]):
            if fixed[p] >= 0:
                offset += fixed[p]
                continue
            count_size, item_size = lists[p] // 16, lists[p] % 16
            if offset + count_size > end:
                return -1
            count = 0
            for b in range(count_size):  # list counts are read as unsigned integers
                byte = data[offset + count_size - 1 - b] if big_endian else data[offset + b]
                count |= int(byte) << (8 * b)
            offset += count_size + count * item_size
        if offset > end:
            return -1
    return offset


def _skip_elements(
    data: npt.NDArray[np.uint8], offset: int, elements: list[PlyElement], order: str, source: str
) -> int:
    """Offset just after ``elements`` (binary) starting at ``offset``."""
    for element in elements:
        if not element.has_lists:
            offset += element.count * element.dtype(order).itemsize
            continue
        fixed, lists = element.row_layout()
        end = int(_walk_rows(data, offset, element.count, fixed, lists, order == ">"))
        if end < 0:
            raise FormatError(
                f"{source}: data ends inside the {element.count} rows of element "
                f"{element.name!r} starting at byte {offset} of the data section"
            )
        offset = end
    return offset


def _vertex_columns(
    fmt: PlyFormat, elements: list[PlyElement], body: bytes, source: str
) -> tuple[PlyElement, dict[str, npt.NDArray[np.generic]]]:
    names = [e.name for e in elements]
    if "vertex" not in names:
        raise FormatError(f"{source}: PLY has no vertex element (elements {names})")
    position = names.index("vertex")
    vertex = elements[position]
    if vertex.has_lists:
        raise FormatError(f"{source}: vertex element has list properties, which are not supported")
    for axis in ("x", "y", "z"):
        if vertex.index(axis) is None:
            raise FormatError(f"{source}: vertex element has no {axis!r} property")
    wanted = {k: vertex.index(k) for k in ("x", "y", "z", "intensity", "ring")}
    if fmt == "ascii":
        lines = body.split(b"\n")
        skip = sum(e.count for e in elements[:position])
        rows = lines[skip : skip + vertex.count]
        if len(rows) < vertex.count:
            raise FormatError(
                f"{source}: header says {vertex.count} vertices but only {len(rows)} lines follow"
            )
        try:
            tokens = b" ".join(rows).split()
            flat = np.array(tokens, dtype=np.float64) if tokens else np.zeros(0)
        except ValueError as exc:
            raise FormatError(
                f"{source}: vertex data has a value that is not a number: {exc}"
            ) from exc
        width = len(vertex.properties)
        if flat.size != vertex.count * width:
            raise FormatError(
                f"{source}: header says {vertex.count} vertices of {width} values but the vertex "
                f"lines hold {flat.size} values"
            )
        table = flat.reshape(vertex.count, width)
        return vertex, {k: table[:, i] for k, i in wanted.items() if i is not None}
    order = "<" if fmt == "binary_little_endian" else ">"
    data = np.frombuffer(body, dtype=np.uint8)
    offset = _skip_elements(data, 0, elements[:position], order, source)
    dtype = vertex.dtype(order)
    needed = offset + vertex.count * dtype.itemsize
    if len(body) < needed:
        raise FormatError(
            f"{source}: header says {vertex.count} vertices of {dtype.itemsize} bytes at offset "
            f"{offset} ({needed} bytes) but the data section has {len(body)} bytes"
        )
    total = _skip_elements(data, needed, elements[position + 1 :], order, source)
    if len(body) != total:
        raise FormatError(
            f"{source}: data section has {len(body)} bytes, the header accounts for {total}"
        )
    records = np.frombuffer(body, dtype=dtype, count=vertex.count, offset=offset)
    return vertex, {k: records[f"p{i}"] for k, i in wanted.items() if i is not None}


def load_ply(path: str | os.PathLike[str], *, drop_invalid: bool = False) -> PointFile:
    """Read a PLY file's vertices into a ``PointFile`` (points, ring, intensity rule, warnings).

    With ``drop_invalid`` vertices with non-finite x, y or z are dropped instead of refused.
    A truncated or wrongly-sized file, or a malformed header, is a FormatError naming the file.
    """
    lines, body, source = read_header_and_body(path, b"end_header", "PLY")
    fmt, elements = parse_header(lines, source)
    _, columns = _vertex_columns(fmt, elements, body, source)
    warnings: list[str] = []
    if fmt == "ascii" and body.strip() and not body.endswith((b"\n", b"\r")):
        warnings.append(NO_FINAL_NEWLINE)
    return assemble_points(
        columns["x"],
        columns["y"],
        columns["z"],
        columns.get("intensity"),
        source,
        fmt="ply",
        warnings=warnings,
        drop_invalid=drop_invalid,
        ring=columns.get("ring"),
    )


def read_ply(
    path: str | os.PathLike[str], *, drop_invalid: bool = False
) -> npt.NDArray[np.float32]:
    """Read a PLY file's vertices into float32 ``(N, 4)`` points (metres, intensity in [0, 1]);
    ``load_ply`` also returns the ring, the intensity rule and the warnings (logged here)."""
    read = load_ply(path, drop_invalid=drop_invalid)
    if read.warnings:
        log.warning("%s: %s", path, "; ".join(read.warnings))
    return read.points


def encode_ply(
    points: npt.NDArray[np.float32], *, fmt: PlyFormat = "binary_little_endian"
) -> bytes:
    """Encode float32 ``(N, 4)`` points as a PLY vertex element with x y z intensity floats."""
    points = validate_points(np.asarray(points), "points")
    n = points.shape[0]
    header = (
        f"ply\nformat {fmt} 1.0\ncomment written by longtail\nelement vertex {n}\n"
        "property float x\nproperty float y\nproperty float z\nproperty float intensity\n"
        "end_header\n"
    ).encode("ascii")
    if fmt == "ascii":
        text = np.strings.mod("%.9g", points.astype(np.float64)) if n else np.zeros((0, 4), str)
        return header + "".join(" ".join(row) + "\n" for row in text.tolist()).encode("ascii")
    order = "<" if fmt == "binary_little_endian" else ">"
    return header + points.astype(order + "f4").tobytes()


def write_ply(
    path: str | os.PathLike[str],
    points: npt.NDArray[np.float32],
    *,
    fmt: PlyFormat = "binary_little_endian",
) -> None:
    """Write points atomically as a PLY file (see ``encode_ply``)."""
    atomic_write_bytes(Path(path), encode_ply(points, fmt=fmt), durable=False)
