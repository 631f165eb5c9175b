"""The shared reader helpers: one intensity scale per file, and (N, 4) assembly."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from core.errors import FormatError
from core.formats._points import assemble_points, find_header_end, normalise_intensity


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (np.array([0.0, 0.5, 1.0], np.float32), [0.0, 0.5, 1.0]),
        (np.array([0.0, 25.5, 255.0], np.float64), [0.0, 0.1, 1.0]),
        (np.array([0, 255], np.uint8), [0.0, 1.0]),
        (np.array([0, 1], np.uint8), [0.0, 1.0]),  # 0/1 integers stay as they are
        (np.array([0, 51, 255], np.uint16), [0.0, 0.2, 1.0]),  # 8-bit values stored wider
        (np.array([0, 65535], np.uint16), [0.0, 1.0]),
        (np.zeros(0, np.float32), []),
    ],
)
def test_intensity_scales(values: npt.NDArray[np.generic], expected: list[float]) -> None:
    scaled = normalise_intensity(values, "f")
    assert scaled.dtype == np.float32
    np.testing.assert_allclose(scaled, expected, rtol=1e-6)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (np.array([-0.5, 0.5]), r"negative values \(minimum -0\.5\)"),
        (np.array([0.0, 300.0]), r"range \[0, 300\]"),
        (np.array([0, 70000], np.uint32), r"range \[0, 70000\]"),
        (np.array([0.5, np.nan]), "non-finite"),
    ],
)
def test_intensity_refusals_name_the_source(values: npt.NDArray[np.generic], message: str) -> None:
    with pytest.raises(FormatError, match=rf"scan\.pcd: .*{message}"):
        normalise_intensity(values, "scan.pcd")


def test_assembly_fills_missing_intensity_and_refuses_overflow() -> None:
    x = np.array([1.0, 2.0])
    points = assemble_points(x, x * 2, x * 3, None, "f")
    assert np.array_equal(points, np.array([[1, 2, 3, 0], [2, 4, 6, 0]], np.float32))
    with pytest.raises(FormatError, match="non-finite"):
        assemble_points(np.array([1e300]), x[:1], x[:1], None, "f")  # beyond float32


def test_header_end_is_found_or_refused() -> None:
    assert find_header_end(b"ply\nend_header\nDATA", b"end_header", "f") == 15
    with pytest.raises(FormatError, match="no 'end_header' line in the first 9 bytes"):
        find_header_end(b"ply\nabcd\n", b"end_header", "f")
