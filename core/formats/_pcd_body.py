"""The data section of a PCD file: which point count and record width it holds, and the columns
of the fields read (x, y, z, intensity, ring) as arrays of N values.

The rules (module docstring of ``core.formats.pcd``), in short: a point count (POINTS, then
WIDTH * HEIGHT) that the data match exactly wins; otherwise the header's points are read with
the declared record width and what follows is ignored, as three.js' PCDLoader (and the
SUSTechPOINTS labelling tool built on it) reads such files, so boxes drawn on them stay on their
points. Only when the header does not describe the record width is it taken from the data.
Anything shorter than the declared points is refused as truncated.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from core.errors import FormatError
from core.formats._lzf import lzf_decompress

if TYPE_CHECKING:
    from core.formats.pcd import PcdHeader, WantedField

Columns = dict[str, npt.NDArray[np.generic]]
#: warning for ascii data whose last line has no newline (writers end every line with one)
NO_FINAL_NEWLINE = "ascii data do not end with a newline: the file may be cut inside its last value"


def decode_columns(
    header: PcdHeader,
    wanted: dict[str, WantedField],
    body: bytes,
    source: str,
    warnings: list[str],
) -> Columns:
    """The first element of each wanted field, one value per point; tolerated mismatches
    between header and data are appended to ``warnings``."""
    if header.data == "ascii":
        return _ascii(header, wanted, body, source, warnings)
    if header.data == "binary":
        return _binary(header, wanted, body, source, warnings)
    return _compressed(header, wanted, body, source, warnings)


def _count_note(header: PcdHeader, n: int) -> str | None:
    """A warning if the header's point-count lines disagree with each other, or with ``n``."""
    counts = header.point_counts()
    if counts == [n]:
        return None
    said = []
    if header.points is not None:
        said.append(f"POINTS {header.points}")
    if header.width is not None:
        said.append(f"WIDTH*HEIGHT {header.width}*{header.height or 1}")
    return f"header says {' and '.join(said)}: {n} points read, the count the data hold"


def _binary(
    header: PcdHeader, wanted: dict[str, WantedField], body: bytes, source: str, warnings: list[str]
) -> Columns:
    size = len(body)
    record = header.record_bytes()
    needed = max(w.offset + w.dtype.itemsize for w in wanted.values())
    counts = header.point_counts()
    n = stride = -1
    if record is not None:
        exact = [c for c in counts if c * record == size]
        if exact:
            n, stride = exact[0], record
        else:
            longer = [c for c in counts if c > 0 and c * record < size]
            if longer:
                n, stride = longer[0], record
                warnings.append(
                    f"data section has {size - n * record} bytes after the {n} records of "
                    f"{record} bytes: ignored (as three.js reads such files)"
                )
            elif record and not any(counts) and size % record == 0:
                n, stride = size // record, record  # a streaming writer left POINTS at 0
                warnings.append(f"header says 0 points but the data hold {n} records: all read")
        if n < 0:
            c = counts[0]
            raise FormatError(
                f"{source}: header says {c} points of {record} bytes ({c * record} bytes) but "
                f"the data section has {size} bytes (truncated?)"
            )
    else:
        fits = [c for c in counts if c > 0 and size % c == 0 and size // c >= needed]
        if not fits:
            raise FormatError(
                f"{source}: the header does not describe the record width and the data "
                f"section's {size} bytes are no whole number of records of at least {needed} "
                f"bytes for {counts[0]} points"
            )
        n, stride = fits[0], size // fits[0]
        warnings.append(f"record width taken from the data: {size} bytes / {n} points = {stride}")
    note = _count_note(header, n)
    if note:
        warnings.append(note)
    layout = np.dtype(
        {
            "names": list(wanted),
            "formats": [f.dtype for f in wanted.values()],
            "offsets": [f.offset for f in wanted.values()],
            "itemsize": stride,
        }
    )
    records = np.frombuffer(body, dtype=layout, count=n)
    return {name: records[name] for name in wanted}


def _compressed(
    header: PcdHeader, wanted: dict[str, WantedField], body: bytes, source: str, warnings: list[str]
) -> Columns:
    # two uint32 sizes, then LZF data holding each field's column in turn
    if len(body) < 8:
        raise FormatError(
            f"{source}: binary_compressed data has {len(body)} bytes, needs 8 for sizes"
        )
    compressed, uncompressed = struct.unpack_from("<II", body)
    if compressed > len(body) - 8:
        raise FormatError(
            f"{source}: compressed block declares {compressed} bytes but {len(body) - 8} follow "
            f"(truncated)"
        )
    if compressed < len(body) - 8:
        warnings.append(f"{len(body) - 8 - compressed} bytes after the compressed block: ignored")
    record = header.record_bytes()
    counts = header.point_counts()
    # bytes the wanted columns need for n points: n * (offset + width of the last one)
    reach = max(w.offset + _field_bytes(header, w) for w in wanted.values())
    if record is not None:
        exact = [c for c in counts if c * record == uncompressed]
        longer = [c for c in counts if c * record < uncompressed]
        if exact:
            n = exact[0]
        elif longer:
            n = longer[0]
            warnings.append(
                f"compressed block expands to {uncompressed} bytes, {n} points of {record} "
                f"bytes need {n * record}: the rest is ignored"
            )
        else:
            c = counts[0]
            raise FormatError(
                f"{source}: header says {c} points of {record} bytes ({c * record} bytes) but "
                f"the compressed block declares {uncompressed} bytes"
            )
    else:
        fits = [c for c in counts if c * reach <= uncompressed]
        if not fits:
            raise FormatError(
                f"{source}: compressed block declares {uncompressed} bytes, too few for the "
                f"fields read of {counts[0]} points"
            )
        n = fits[0]
    note = _count_note(header, n)
    if note:
        warnings.append(note)
    plain = lzf_decompress(memoryview(body)[8 : 8 + compressed], uncompressed, source)
    out: Columns = {}
    for name, field in wanted.items():
        count = header.fields[field.index].count or 1
        column = np.frombuffer(plain, dtype=field.dtype, count=n * count, offset=n * field.offset)
        out[name] = column.reshape(n, count)[:, 0]
    return out


def _field_bytes(header: PcdHeader, field: WantedField) -> int:
    return header.fields[field.index].nbytes or field.dtype.itemsize


def _ascii(
    header: PcdHeader, wanted: dict[str, WantedField], body: bytes, source: str, warnings: list[str]
) -> Columns:
    if body.strip() and not body.endswith((b"\n", b"\r")):
        warnings.append(NO_FINAL_NEWLINE)
    lines = [line for line in (raw.strip() for raw in body.split(b"\n")) if line]
    widths = np.array([len(line.split()) for line in lines], dtype=np.int64)
    width = int(widths[0]) if len(lines) else 0
    ragged = np.flatnonzero(widths != width)
    if ragged.size:
        bad = int(ragged[0])
        hint = " (truncated)" if bad == len(lines) - 1 and widths[bad] < width else ""
        raise FormatError(
            f"{source}: ascii data line {bad + 1} has {int(widths[bad])} values, the lines "
            f"before it {width}{hint}"
        )
    declared = header.values_per_point()
    needed = max(w.column for w in wanted.values()) + 1
    if lines and declared is not None and width < declared:
        raise FormatError(
            f"{source}: ascii lines have {width} values but the header declares {declared} "
            f"a point (FIELDS/COUNT)"
        )
    if lines and width < needed:
        raise FormatError(
            f"{source}: ascii lines have {width} values, too few to hold the fields read "
            f"(column {needed} needed)"
        )
    if lines and declared is not None and width > declared:
        warnings.append(
            f"ascii lines have {width} values, the header declares {declared}: the declared "
            f"columns are read"
        )
    counts = header.point_counts()
    total = len(lines)
    if total in counts:
        n = total
    elif counts[0] and total > counts[0]:
        n = counts[0]
        warnings.append(f"{total - n} ascii line(s) after the {n} points: ignored")
    elif not any(counts):
        n = total
        warnings.append(f"header says 0 points but the data hold {n} lines: all read")
    else:
        raise FormatError(
            f"{source}: header says {counts[0]} points but the ascii data has {total} lines "
            f"(truncated?)"
        )
    note = _count_note(header, n)
    if note:
        warnings.append(note)
    if n == 0:
        return {name: np.zeros(0, field.dtype) for name, field in wanted.items()}
    try:
        tokens = b" ".join(lines[:n]).split()
        flat = np.array(tokens, dtype=np.float64) if tokens else np.zeros(0)
    except ValueError as exc:
        raise FormatError(f"{source}: ascii data has a value that is not a number: {exc}") from exc
    table = flat.reshape(n, width)
    out: Columns = {}
    for name, field in wanted.items():
        column = table[:, field.column]
        if field.dtype.kind in "iu":
            if np.isfinite(column).all() and (column == np.round(column)).all():
                out[name] = column.astype(np.int64)
                continue
            warnings.append(f"integer field {name!r} holds non-integer values: read as floats")
        out[name] = column
    return out
