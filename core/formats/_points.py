"""Helpers shared by the point-cloud readers: the ``PointFile`` result, header split, (N, 4) assembly."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from core.errors import FormatError
from core.formats.intensity import DeclaredScale, scale_intensity
from core.formats.kitti_bin import validate_points


@dataclass(frozen=True)
class PointFile:
    """What a reader got from one point file.

    ``points``: float32 ``(N, 4)`` x, y, z (metres, sensor frame: x forward, y left, z up) and
    intensity in [0, 1]; ``format``: the format read (``pcd``, ``ply``, ``las``, ``laz``,
    ``nuscenes_bin``, ``kitti_bin``); ``intensity_rule``: how intensity was scaled
    (``core.formats.intensity``); ``ring``: the laser (beam) index of each point where the file
    has one; ``warnings``: what was inconsistent in the file and what was done about it.
    """

    points: npt.NDArray[np.float32]
    format: str
    intensity_rule: str
    ring: npt.NDArray[np.uint16] | None = None
    warnings: tuple[str, ...] = ()


def ring_index(
    values: npt.NDArray[np.generic], warnings: list[str]
) -> npt.NDArray[np.uint16] | None:
    """``values`` as uint16 beam indices, or None (with a warning) if they are not whole numbers
    in 0..65535 (a ring column holding something else is dropped, never guessed at)."""
    with np.errstate(invalid="ignore"):
        as_float = values.astype(np.float64)
    if as_float.size and not (
        np.isfinite(as_float).all()
        and as_float.min() >= 0
        and as_float.max() <= 65535
        and (as_float == np.round(as_float)).all()
    ):
        warnings.append("ring values are not whole numbers in 0..65535: ring dropped")
        return None
    return as_float.astype(np.uint16)


def assemble_points(
    x: npt.NDArray[np.generic],
    y: npt.NDArray[np.generic],
    z: npt.NDArray[np.generic],
    intensity: npt.NDArray[np.generic] | None,
    source: str,
    *,
    fmt: str,
    warnings: list[str],
    drop_invalid: bool = False,
    ring: npt.NDArray[np.generic] | None = None,
    declared: DeclaredScale | None = None,
) -> PointFile:
    """Stack coordinate columns (metres), intensity (scaled by ``core.formats.intensity``) and
    an optional ring column into a ``PointFile``.

    Missing intensity becomes 0 (with a warning). With ``drop_invalid`` points whose x, y or z
    is not finite (the no-return markers of organised clouds) are dropped (with a warning
    counting them); otherwise any non-finite value is a FormatError.
    """
    n = x.shape[0]
    points = np.zeros((n, 4), dtype=np.float32)
    # float64 beyond float32 range becomes inf (refused or dropped below); signalling NaNs
    # raise FE_INVALID when converted
    with np.errstate(over="ignore", invalid="ignore"):
        points[:, 0], points[:, 1], points[:, 2] = x, y, z
    return finish_points(
        points,
        intensity,
        source,
        fmt=fmt,
        warnings=warnings,
        drop_invalid=drop_invalid,
        ring=ring,
        declared=declared,
    )


def finish_points(
    points: npt.NDArray[np.float32],
    intensity: npt.NDArray[np.generic] | None,
    source: str,
    *,
    fmt: str,
    warnings: list[str],
    drop_invalid: bool = False,
    ring: npt.NDArray[np.generic] | None = None,
    declared: DeclaredScale | None = None,
) -> PointFile:
    """``assemble_points`` for a float32 ``(N, 4)`` array whose x, y, z columns are filled
    (column 3 is overwritten with the scaled ``intensity``, which may be a view of it)."""
    n = points.shape[0]
    # whole-array check first: a strided (N, 3) view is ten times slower to reduce
    if drop_invalid and not np.isfinite(points).all():
        keep = np.isfinite(points[:, :3]).all(axis=1)
        if not keep.all():
            dropped = int((~keep).sum())
            warnings.append(f"dropped {dropped} of {n} point(s) with non-finite x/y/z (no return)")
            points = points[keep]
            intensity = None if intensity is None else intensity[keep]
            ring = None if ring is None else ring[keep]
    if intensity is None:
        rule = "none (no intensity in the file: set to 0)"
        points[:, 3] = 0.0
        if n:
            warnings.append("no intensity field: intensity set to 0")
    else:
        scaled = scale_intensity(intensity, source, declared=declared)
        points[:, 3] = scaled.values
        rule = scaled.rule
        if scaled.warning:
            warnings.append(scaled.warning)
    points = validate_points(points, source)
    rings = None if ring is None else ring_index(ring, warnings)
    return PointFile(points, fmt, rule, rings, tuple(warnings))


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
