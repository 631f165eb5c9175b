"""The shared reader helpers: (N, 4) assembly with its warnings, ring columns, header split.

The intensity rule itself is tested in ``test_intensity.py``."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import FormatError
from core.formats._points import assemble_points, find_header_end, ring_index


def test_assembly_fills_missing_intensity_and_refuses_overflow() -> None:
    x = np.array([1.0, 2.0])
    warnings: list[str] = []
    read = assemble_points(x, x * 2, x * 3, None, "f", fmt="pcd", warnings=warnings)
    assert np.array_equal(read.points, np.array([[1, 2, 3, 0], [2, 4, 6, 0]], np.float32))
    assert read.warnings == ("no intensity field: intensity set to 0",)
    assert read.intensity_rule.startswith("none")
    with pytest.raises(FormatError, match="non-finite"):
        assemble_points(np.array([1e300]), x[:1], x[:1], None, "f", fmt="pcd", warnings=[])


def test_assembly_drops_no_return_points_with_their_ring_and_says_how_many() -> None:
    x = np.array([1.0, np.nan, 3.0])
    read = assemble_points(
        x,
        x,
        x,
        np.array([10, 20, 30], np.uint8),
        "f",
        fmt="pcd",
        warnings=[],
        drop_invalid=True,
        ring=np.array([0, 1, 2], np.uint16),
    )
    assert np.array_equal(read.points[:, 0], [1, 3])
    np.testing.assert_allclose(read.points[:, 3], [10 / 255, 30 / 255], rtol=1e-6)
    assert read.ring is not None and np.array_equal(read.ring, [0, 2])
    assert read.warnings == ("dropped 1 of 3 point(s) with non-finite x/y/z (no return)",)


def test_ring_columns_that_are_not_beam_indices_are_dropped_with_a_warning() -> None:
    warnings: list[str] = []
    ring = ring_index(np.array([0.0, 1.0, 63.0], np.float32), warnings)
    assert ring is not None and ring.dtype == np.uint16 and warnings == []
    assert ring_index(np.array([0.0, 1.5]), warnings) is None
    assert ring_index(np.array([-1, 3], np.int16), warnings) is None
    assert len(warnings) == 2 and "ring dropped" in warnings[0]


def test_header_end_is_found_or_refused() -> None:
    assert find_header_end(b"ply\nend_header\nDATA", b"end_header", "f") == 15
    with pytest.raises(FormatError, match="no 'end_header' line in the first 9 bytes"):
        find_header_end(b"ply\nabcd\n", b"end_header", "f")
