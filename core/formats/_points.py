"""Helpers shared by the point-cloud readers: header split, intensity scaling, (N, 4) assembly."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import numpy.typing as npt

from core.errors import FormatError
from core.formats.kitti_bin import validate_points


def normalise_intensity(values: npt.NDArray[np.generic], source: str) -> npt.NDArray[np.float32]:
    """Scale raw intensity values into [0, 1] (float32).

    Rules (one per file, never per point, so a frame keeps one scale):

    * all values in [0, 1]: kept as they are (already normalised, or a 0/1 integer field);
    * otherwise all in [0, 255]: divided by 255 (8-bit sensors, and 8-bit values stored wider);
    * otherwise an integer field with values in [0, 65535]: divided by 65535 (16-bit sensors);
    * anything else (negative, NaN, a float above 255, an integer above 65535): FormatError.
    """
    if values.size == 0:
        return np.zeros(0, dtype=np.float32)
    with np.errstate(invalid="ignore"):  # signalling NaNs raise FE_INVALID when widened
        as_float = values.astype(np.float64)
    if not np.isfinite(as_float).all():
        raise FormatError(f"{source}: intensity contains non-finite values")
    low, high = float(as_float.min()), float(as_float.max())
    if low < 0.0:
        raise FormatError(f"{source}: intensity has negative values (minimum {low!r})")
    if high <= 1.0:
        return as_float.astype(np.float32)
    if high <= 255.0:
        return (as_float / 255.0).astype(np.float32)
    if np.issubdtype(values.dtype, np.integer) and high <= 65535.0:
        return (as_float / 65535.0).astype(np.float32)
    raise FormatError(
        f"{source}: intensity range [{low:g}, {high:g}] is none of [0, 1], [0, 255] or "
        f"16-bit integer; cannot scale it to [0, 1]"
    )


def assemble_points(
    x: npt.NDArray[np.generic],
    y: npt.NDArray[np.generic],
    z: npt.NDArray[np.generic],
    intensity: npt.NDArray[np.generic] | None,
    source: str,
    *,
    drop_invalid: bool = False,
) -> npt.NDArray[np.float32]:
    """Stack coordinate columns (metres) and optional intensity into finite float32 (N, 4).

    Missing intensity becomes 0. With ``drop_invalid`` points whose x, y or z is not finite
    (the no-return markers of organised clouds) are dropped before the finiteness check;
    otherwise any non-finite value is a FormatError.
    """
    n = x.shape[0]
    xyz = np.empty((n, 3), dtype=np.float64)
    with np.errstate(invalid="ignore"):  # signalling NaNs raise FE_INVALID when widened
        xyz[:, 0], xyz[:, 1], xyz[:, 2] = x, y, z
    if drop_invalid:
        keep = np.isfinite(xyz).all(axis=1)
        xyz = xyz[keep]
        intensity = None if intensity is None else intensity[keep]
    points = np.zeros((xyz.shape[0], 4), dtype=np.float32)
    with np.errstate(over="ignore"):  # float64 beyond float32 range becomes inf: refused below
        points[:, :3] = xyz
    if intensity is not None:
        points[:, 3] = normalise_intensity(intensity, source)
    return validate_points(points, source)


def find_header_end(raw: bytes, marker_line: bytes, source: str, limit: int = 1 << 16) -> int:
    """Offset just after the first line starting with ``marker_line`` within ``limit`` bytes."""
    offset = 0
    head = raw[:limit]
    while offset < len(head):
        end = head.find(b"\n", offset)
        if end < 0:
            break
        if head[offset:end].strip().startswith(marker_line):
            return end + 1
        offset = end + 1
    raise FormatError(
        f"{source}: no {marker_line.decode()!r} line in the first {min(limit, len(raw))} bytes "
        f"(truncated header or not this format)"
    )


def read_header_and_body(
    path: str | os.PathLike[str], marker_line: bytes, kind: str
) -> tuple[list[str], bytes, str]:
    """Read ``path`` and split it after its ASCII header (ended by the ``marker_line`` line).

    Returns the header lines, the body bytes and the file name to quote in errors; an unreadable
    file, a missing marker or a non-ASCII header is a FormatError naming the ``kind`` of file.
    """
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise FormatError(f"{source}: cannot read {kind} file: {exc.strerror}") from exc
    start = find_header_end(raw, marker_line, source)
    try:
        lines = raw[:start].decode("ascii").splitlines()
    except UnicodeDecodeError as exc:
        raise FormatError(f"{source}: {kind} header is not ASCII text: {exc}") from exc
    return lines, raw[start:], source
