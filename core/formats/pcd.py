"""Point Cloud Library ``.pcd`` files (v0.7): ascii, binary and binary_compressed (LZF).

The reader takes fields ``x y z`` and optional ``intensity`` (missing -> 0, scaled into [0, 1] as
``normalise_intensity`` documents); any other field is ignored. ``SIZE``, ``TYPE`` and ``COUNT``
are honoured (a field with COUNT > 1 uses its first element); organised clouds (``HEIGHT`` > 1)
are read as ``WIDTH * HEIGHT`` points in row order. Binary data are little-endian.
Points are assumed to be in the sensor frame (x forward, y left, z up, metres).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from core.errors import FormatError
from core.formats._lzf import lzf_compress, lzf_decompress
from core.formats._points import assemble_points, read_header_and_body
from core.formats.atomic import atomic_write_bytes
from core.formats.kitti_bin import validate_points

PcdData = Literal["ascii", "binary", "binary_compressed"]
_DATA_KINDS: dict[str, PcdData] = {
    "ascii": "ascii",
    "binary": "binary",
    "binary_compressed": "binary_compressed",
}

_TYPES = {
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


@dataclass(frozen=True)
class PcdHeader:
    """The parsed header of a PCD file."""

    fields: tuple[str, ...]
    sizes: tuple[int, ...]
    types: tuple[str, ...]
    counts: tuple[int, ...]
    width: int
    height: int
    points: int
    data: PcdData

    def dtype(self) -> np.dtype[np.void]:
        """The packed record dtype; fields get positional names (PCL pads with repeated ``_``)."""
        return np.dtype(
            [
                (f"f{i}", _TYPES[(t, s)], (c,))
                for i, (t, s, c) in enumerate(zip(self.types, self.sizes, self.counts, strict=True))
            ]
        )


def _ints(values: list[str], key: str, source: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in values)
    except ValueError as exc:
        raise FormatError(f"{source}: {key} must be integers, got {values}") from exc


def _one_int(values: list[str], key: str, source: str) -> int:
    if len(values) != 1:
        raise FormatError(f"{source}: {key} must be one integer, got {values}")
    return _ints(values, key, source)[0]


def parse_header(lines: list[str], source: str) -> PcdHeader:
    """Parse the header lines (up to and including ``DATA``) of a PCD file."""
    entries: dict[str, list[str]] = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            key, *values = line.split()
            entries[key.upper()] = values
    for key in ("FIELDS", "SIZE", "TYPE", "WIDTH", "HEIGHT", "DATA"):
        if key not in entries:
            raise FormatError(f"{source}: PCD header has no {key} line")
    fields = tuple(entries["FIELDS"])
    sizes = _ints(entries["SIZE"], "SIZE", source)
    types = tuple(t.upper() for t in entries["TYPE"])
    counts = _ints(entries.get("COUNT", ["1"] * len(fields)), "COUNT", source)
    if not len(fields) == len(sizes) == len(types) == len(counts):
        raise FormatError(
            f"{source}: FIELDS/SIZE/TYPE/COUNT have {len(fields)}/{len(sizes)}/{len(types)}/"
            f"{len(counts)} entries, they must match"
        )
    for name, type_, size, count in zip(fields, types, sizes, counts, strict=True):
        if (type_, size) not in _TYPES:
            raise FormatError(f"{source}: field {name!r} has unsupported TYPE {type_} SIZE {size}")
        if not 1 <= count <= MAX_COUNT:
            raise FormatError(f"{source}: field {name!r} has COUNT {count}, must be 1..{MAX_COUNT}")
    for axis in ("x", "y", "z"):
        if axis not in fields:
            raise FormatError(f"{source}: PCD has no {axis!r} field (fields {list(fields)})")
    width = _one_int(entries["WIDTH"], "WIDTH", source)
    height = _one_int(entries["HEIGHT"], "HEIGHT", source)
    points = _one_int(entries.get("POINTS", [str(width * height)]), "POINTS", source)
    if width < 0 or height < 0 or points != width * height:
        raise FormatError(
            f"{source}: POINTS {points} does not equal WIDTH {width} * HEIGHT {height}"
        )
    if points > MAX_POINTS:
        raise FormatError(f"{source}: header claims {points} points, above {MAX_POINTS}")
    data = " ".join(entries["DATA"]).lower()
    kind = _DATA_KINDS.get(data)
    if kind is None:
        raise FormatError(f"{source}: unsupported DATA {data!r}")
    return PcdHeader(fields, sizes, types, counts, width, height, points, kind)


def _records_from_ascii(body: bytes, header: PcdHeader, source: str) -> npt.NDArray[np.float64]:
    values_per_point = sum(header.counts)
    try:
        tokens = body.split()
        flat = np.array(tokens, dtype=np.float64) if tokens else np.zeros(0)
    except ValueError as exc:
        raise FormatError(f"{source}: ascii data has a value that is not a number: {exc}") from exc
    if flat.size != header.points * values_per_point:
        raise FormatError(
            f"{source}: header says {header.points} points of {values_per_point} values but the "
            f"ascii data has {flat.size} values"
        )
    return flat.reshape(header.points, values_per_point)


def _columns(header: PcdHeader, raw: bytes, source: str) -> dict[str, npt.NDArray[np.generic]]:
    """The first element of each wanted field, as arrays of N values."""
    wanted = [name for name in ("x", "y", "z", "intensity") if name in header.fields]
    dtype = header.dtype()
    n = header.points
    if header.data == "ascii":
        table = _records_from_ascii(raw, header, source)
        starts = np.cumsum((0, *header.counts))
        return {name: table[:, starts[header.fields.index(name)]] for name in wanted}
    if header.data == "binary":
        expected = n * dtype.itemsize
        if len(raw) != expected:
            raise FormatError(
                f"{source}: header says {n} points of {dtype.itemsize} bytes ({expected} bytes) "
                f"but the data section has {len(raw)} bytes"
            )
        records = np.frombuffer(raw, dtype=dtype, count=n)
        return {name: records[f"f{header.fields.index(name)}"][:, 0] for name in wanted}
    # binary_compressed: two uint32 sizes, then LZF data holding each field's column in turn
    if len(raw) < 8:
        raise FormatError(
            f"{source}: binary_compressed data has {len(raw)} bytes, needs 8 for sizes"
        )
    compressed, uncompressed = struct.unpack_from("<II", raw)
    expected = n * dtype.itemsize
    if uncompressed != expected:
        raise FormatError(
            f"{source}: header says {n} points of {dtype.itemsize} bytes ({expected} bytes) but "
            f"the compressed block declares {uncompressed} bytes"
        )
    if compressed != len(raw) - 8:
        raise FormatError(
            f"{source}: compressed block declares {compressed} bytes but {len(raw) - 8} follow"
        )
    plain = lzf_decompress(memoryview(raw)[8:], expected, source)
    out: dict[str, npt.NDArray[np.generic]] = {}
    offset = 0
    for i, name in enumerate(header.fields):
        field = dtype[f"f{i}"]
        if name in wanted:
            column = np.frombuffer(
                plain, dtype=field.base, count=n * header.counts[i], offset=offset
            )
            out[name] = column.reshape(n, header.counts[i])[:, 0]
        offset += n * field.itemsize
    return out


def read_pcd(
    path: str | os.PathLike[str], *, drop_invalid: bool = False
) -> npt.NDArray[np.float32]:
    """Read a PCD file into float32 ``(N, 4)`` points (x, y, z metres, intensity in [0, 1]).

    With ``drop_invalid`` points whose x, y or z is NaN/inf (the no-return markers of organised
    clouds) are dropped; otherwise they make the file invalid. Any truncation, size mismatch or
    malformed header is a FormatError naming the file.
    """
    lines, body, source = read_header_and_body(path, b"DATA", "PCD")
    header = parse_header(lines, source)
    columns = _columns(header, body, source)
    return assemble_points(
        columns["x"],
        columns["y"],
        columns["z"],
        columns.get("intensity"),
        source,
        drop_invalid=drop_invalid,
    )


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
