"""Hypothesis strategies shared by the format tests: point clouds and boxes in Longtail conventions."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from core.errors import FormatError

#: coordinates within a long-range LiDAR's reach, metres
RANGE_M = 250.0


@st.composite
def point_clouds(
    draw: st.DrawFn, *, max_points: int = 300, range_m: float = RANGE_M
) -> npt.NDArray[np.float32]:
    """Float32 (N, 4) clouds: xyz within +-range_m metres, intensity in [0, 1]."""
    n = draw(st.integers(0, max_points))
    xyz = draw(
        arrays(
            np.float32,
            (n, 3),
            elements=st.floats(-range_m, range_m, width=32, allow_subnormal=False),
        )
    )
    intensity = draw(
        arrays(np.float32, (n, 1), elements=st.floats(0.0, 1.0, width=32, allow_subnormal=False))
    )
    return np.ascontiguousarray(np.hstack([xyz, intensity]), dtype=np.float32)


@st.composite
def boxes(
    draw: st.DrawFn, *, range_m: float = 80.0
) -> tuple[float, float, float, float, float, float, float]:
    """Longtail boxes (x, y, z, l, w, h, yaw): centre in metres, positive sizes, yaw in (-pi, pi]."""
    centre = [draw(st.floats(-range_m, range_m)) for _ in range(2)]
    z = draw(st.floats(-3.0, 3.0))
    size = [draw(st.floats(0.1, 20.0)) for _ in range(3)]
    yaw = draw(st.floats(-math.pi, math.pi, exclude_min=True))
    return (centre[0], centre[1], z, size[0], size[1], size[2], yaw)


def angle_diff(a: float, b: float) -> float:
    """Smallest absolute difference between two angles, radians."""
    return abs(math.remainder(a - b, 2.0 * math.pi))


def corrupt(data: bytes, draw: st.DataObject) -> bytes:
    """Truncate ``data`` or overwrite 1-6 of its bytes, as Hypothesis chooses."""
    buffer = bytearray(data)
    if draw.draw(st.booleans()):
        del buffer[draw.draw(st.integers(0, len(buffer) - 1)) :]
    else:
        for _ in range(draw.draw(st.integers(1, 6))):
            buffer[draw.draw(st.integers(0, len(buffer) - 1))] = draw.draw(st.integers(0, 255))
    return bytes(buffer)


def assert_points_or_format_error(
    path: Path, read: Callable[[Path], npt.NDArray[np.float32]]
) -> None:
    """``read(path)`` either refuses the file with a ``FormatError`` naming it or returns finite
    float32 ``(N, C)`` points: a damaged file never escapes as another error or bad numbers."""
    try:
        points = read(path)
    except FormatError as exc:
        assert str(path) in str(exc)
        return
    assert points.dtype == np.float32 and points.ndim == 2 and np.isfinite(points).all()
