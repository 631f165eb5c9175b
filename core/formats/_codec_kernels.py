"""Numeric cores of the quantized frame encoding (numba; no I/O, no allocation of outputs).

Quantized body layout (see ``codec``): 12 byte planes, plane ``4 * c + b`` holding byte ``b``
(little-endian) of the zig-zag mapped, wrapped int32 delta of grid column ``c`` (x, y, z) from
the previous point's; then one plane of 8-bit intensity levels.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

#: largest grid index magnitude: every index and every wrapped delta fits int32
MAX_GRID_INDEX = 2**31 - 1
_TWO_31 = 2**31
_MASK_32 = 0xFFFFFFFF


@numba.njit(cache=True, nogil=True)
def quantize_into(
    points: npt.NDArray[np.float32],
    step: float,
    planes: npt.NDArray[np.uint8],
    decoded: npt.NDArray[np.float32],
) -> int:
    """Fill ``planes`` (13, N) with the quantized body and ``decoded`` (N, 4) with what a
    decoder will return. Returns -1, or ``4 * row + column`` of the first value that cannot be
    represented (column 3: intensity outside [0, 1]); points must be finite."""
    n = points.shape[0]
    for c in range(3):
        previous = np.int64(0)
        for i in range(n):
            grid = np.rint(np.float64(points[i, c]) / step)
            if abs(grid) > MAX_GRID_INDEX:
                return 4 * i + c
            index = np.int64(grid)
            decoded[i, c] = np.float32(np.float64(index) * step)
            delta = ((index - previous + _TWO_31) & _MASK_32) - _TWO_31  # wrap to int32
            previous = index
            zigzag = ((delta << 1) ^ (delta >> 63)) & _MASK_32
            for b in range(4):
                planes[4 * c + b, i] = (zigzag >> (8 * b)) & 0xFF
    for i in range(n):
        value = np.float64(points[i, 3])
        if not 0.0 <= value <= 1.0:
            return 4 * i + 3
        level = np.int64(np.rint(value * 255.0))
        planes[12, i] = level
        decoded[i, 3] = np.float32(np.float64(level) / 255.0)
    return -1


@numba.njit(cache=True, nogil=True)
def dequantize_into(body: npt.NDArray[np.uint8], step: float, out: npt.NDArray[np.float32]) -> None:
    """Decode a quantized body (13 * N bytes) into ``out`` (N, 4) float32."""
    n = out.shape[0]
    for c in range(3):
        base = 4 * c * n
        index = np.int64(0)
        for i in range(n):
            zigzag = (
                np.int64(body[base + i])
                | (np.int64(body[base + n + i]) << 8)
                | (np.int64(body[base + 2 * n + i]) << 16)
                | (np.int64(body[base + 3 * n + i]) << 24)
            )
            delta = (zigzag >> 1) ^ -(zigzag & 1)
            index = ((index + delta + _TWO_31) & _MASK_32) - _TWO_31
            out[i, c] = np.float32(np.float64(index) * step)
    for i in range(n):
        out[i, 3] = np.float32(np.float64(body[12 * n + i]) / 255.0)
