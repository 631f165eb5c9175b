"""Per-point labels in the SemanticKITTI ``.label`` layout.

One little-endian ``uint32`` per point, in the order of the points of the frame's velodyne file:
the lower 16 bits hold the semantic class id, the upper 16 bits the instance id
(``label = semantic | instance << 16``). Instance 0 means "no instance" (stuff, outliers,
unlabelled points).

The layout is SemanticKITTI's; the class ids a Longtail dataset stores in it are Longtail's
(``core.classes.POINT_CLASS_IDS``), not SemanticKITTI's label ids (road is 1 here, 40 there):
an export to a SemanticKITTI tool maps them. This module checks sizes and value ranges only; it
does not interpret the ids.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from core.errors import FormatError
from core.formats.atomic import atomic_write_bytes

U16 = npt.NDArray[np.uint16]

RECORD_BYTES = 4  # one uint32 per point
ID_MAX = 0xFFFF  # semantic and instance ids are 16 bits each


class PointLabels(NamedTuple):
    """The labels of one frame's points: ``semantic`` and ``instance`` ids, uint16 ``(N,)``,
    aligned with the points (``semantic[i]`` is the class of point ``i``)."""

    semantic: U16
    instance: U16


def _checked_ids(values: npt.ArrayLike, what: str, source: str) -> U16:
    array = np.asarray(values)
    if array.ndim != 1:
        raise FormatError(f"{source}: {what} ids must be one-dimensional, got shape {array.shape}")
    if array.dtype == np.uint16:
        return np.ascontiguousarray(array)
    if not np.issubdtype(array.dtype, np.integer):
        raise FormatError(f"{source}: {what} ids must be integers, got {array.dtype}")
    bad = np.flatnonzero((array < 0) | (array > ID_MAX))
    if bad.size:
        first = int(bad[0])
        raise FormatError(
            f"{source}: {bad.size} {what} id(s) outside 0..{ID_MAX}, first at point {first}: "
            f"{int(array[first])}"
        )
    return array.astype(np.uint16)


def encode_point_labels(
    semantic: npt.ArrayLike, instance: npt.ArrayLike, source: str = "point labels"
) -> bytes:
    """The ``.label`` bytes of ``semantic`` and ``instance`` ids (integer ``(N,)`` arrays, each
    value in 0..65535). ``source`` names the file or payload in the error message."""
    sem = _checked_ids(semantic, "semantic", source)
    inst = _checked_ids(instance, "instance", source)
    if sem.shape != inst.shape:
        raise FormatError(
            f"{source}: {sem.shape[0]} semantic ids but {inst.shape[0]} instance ids; "
            "there must be one of each per point"
        )
    packed: npt.NDArray[np.uint32] = sem.astype("<u4") | (inst.astype("<u4") << np.uint32(16))
    return bytes(packed.tobytes())


def decode_point_labels(
    raw: bytes, source: str = "point labels", num_points: int | None = None
) -> PointLabels:
    """Split ``.label`` bytes into semantic and instance ids.

    Raises FormatError naming ``source`` if the size is not a multiple of 4 bytes or, when
    ``num_points`` is given, the file does not hold exactly one label per point.
    """
    if len(raw) % RECORD_BYTES:
        raise FormatError(
            f"{source}: size {len(raw)} bytes is not a multiple of {RECORD_BYTES} "
            "(truncated or not a SemanticKITTI label file)"
        )
    count = len(raw) // RECORD_BYTES
    if num_points is not None and count != num_points:
        raise FormatError(
            f"{source}: expected {num_points} labels (one per point of the frame), found {count}"
        )
    packed = np.frombuffer(raw, dtype="<u4")
    semantic = (packed & np.uint32(ID_MAX)).astype(np.uint16)
    instance = (packed >> np.uint32(16)).astype(np.uint16)
    return PointLabels(semantic, instance)


def read_point_labels(path: str | os.PathLike[str], num_points: int | None = None) -> PointLabels:
    """Read a ``.label`` file into ``(semantic, instance)`` uint16 arrays.

    With ``num_points`` (the point count of the frame's velodyne file), a file that does not
    hold exactly that many labels is refused with a FormatError naming the file and both counts.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FormatError(f"{path}: cannot read point label file: {exc.strerror}") from exc
    return decode_point_labels(raw, str(path), num_points)


def write_point_labels(
    path: str | os.PathLike[str],
    semantic: npt.ArrayLike,
    instance: npt.ArrayLike,
    *,
    durable: bool = True,
) -> None:
    """Write a ``.label`` file atomically (a temp file and a rename; fsynced when ``durable``).

    Refuses (FormatError naming the file, nothing written) arrays of different lengths,
    non-integer ids or ids outside 0..65535.
    """
    path = Path(path)
    atomic_write_bytes(path, encode_point_labels(semantic, instance, str(path)), durable=durable)
