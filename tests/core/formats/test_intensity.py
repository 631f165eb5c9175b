"""The intensity rule (``core.formats.intensity``, docs/formats.md): one scale per file."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from core.errors import FormatError
from core.formats.intensity import DeclaredScale, scale_intensity


@pytest.mark.parametrize(
    ("values", "expected", "rule"),
    [
        (np.array([0.0, 0.5, 1.0], np.float32), [0.0, 0.5, 1.0], "kept"),
        (np.array([0.0, 25.5, 255.0], np.float64), [0.0, 0.1, 1.0], "divided by 255"),
        (np.array([0, 255], np.uint8), [0.0, 1.0], "divided by 255"),
        # an 8-bit field is on the 8-bit scale even when the frame is dark
        (np.array([0, 1], np.uint8), [0.0, 1 / 255], "divided by 255"),
        (np.array([0, 51, 255], np.uint16), [0.0, 0.2, 1.0], "divided by 255"),
        (np.array([0, 65535], np.uint16), [0.0, 1.0], "divided by 65535"),
        (np.array([0, 13107, 300], np.int32), [0.0, 0.2, 300 / 65535], "divided by 65535"),
        (np.zeros(0, np.float32), [], "none"),
    ],
)
def test_the_rule_by_stored_type_and_range(
    values: npt.NDArray[np.generic], expected: list[float], rule: str
) -> None:
    scaled = scale_intensity(values, "f")
    assert scaled.values.dtype == np.float32
    np.testing.assert_allclose(scaled.values, expected, rtol=1e-6)
    assert scaled.rule.startswith(rule)
    assert scaled.warning is None


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (np.array([-0.5, 0.5]), r"negative values \(minimum -0\.5\)"),
        (np.array([0.0, 300.0]), r"float intensity range \[0, 300\] fits no known scale"),
        (np.array([0, 70000], np.uint32), r"uint32 integer intensity range \[0, 70000\]"),
        (np.array([0.5, np.nan]), r"1 non-finite value"),
        (np.array([0.5, np.inf], np.float32), r"1 non-finite value"),
        (np.array([-3, 4], np.int8), "negative values"),
    ],
)
def test_ranges_no_scale_fits_are_refused_naming_the_file(
    values: npt.NDArray[np.generic], message: str
) -> None:
    with pytest.raises(FormatError, match=rf"scan\.pcd: .*{message}"):
        scale_intensity(values, "scan.pcd")


def test_a_declared_scale_decides_while_the_values_fit_it() -> None:
    # nuScenes 0..255: a dark sweep stays dark
    dark = scale_intensity(np.array([0.0, 3.0, 10.0], np.float32), "s", declared="8bit")
    np.testing.assert_allclose(dark.values, [0.0, 3 / 255, 10 / 255], rtol=1e-6)
    assert dark.warning is None
    # all values <= 1 on a 0..255 format: scaled by the format, with a warning that says so
    unit = scale_intensity(np.array([0.0, 0.5, 1.0], np.float32), "s", declared="8bit")
    np.testing.assert_allclose(unit.values, [0.0, 0.5 / 255, 1 / 255], rtol=1e-6)
    assert unit.warning is not None and "already normalised" in unit.warning
    kitti = scale_intensity(np.array([0.0, 0.25], np.float32), "k", declared="unit")
    assert kitti.rule.startswith("kept") and kitti.warning is None


@pytest.mark.parametrize(
    ("declared", "values", "expected", "said"),
    [
        ("unit", np.array([0.0, 127.5, 255.0], np.float32), [0.0, 0.5, 1.0], "[0, 1]"),
        ("8bit", np.array([0, 65535], np.uint16), [0.0, 1.0], "0..255"),
    ],
)
def test_values_beyond_the_declared_scale_are_scaled_by_the_rule_and_reported(
    declared: DeclaredScale, values: npt.NDArray[np.generic], expected: list[float], said: str
) -> None:
    scaled = scale_intensity(values, "f", declared=declared)
    np.testing.assert_allclose(scaled.values, expected, rtol=1e-6)
    assert scaled.warning is not None
    assert f"should be {said}" in scaled.warning
    assert scaled.rule in scaled.warning


def test_beyond_every_scale_is_refused_even_with_a_declared_one() -> None:
    with pytest.raises(FormatError, match=r"intensity range \[0, 300\]"):
        scale_intensity(np.array([0.0, 300.0], np.float32), "n.pcd.bin", declared="8bit")
