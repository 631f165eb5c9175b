"""KITTI velodyne ``.bin`` files: round trip and refusal of truncated or non-finite data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import FormatError
from core.formats.kitti_bin import read_kitti_bin, write_kitti_bin
from tests.core.formats.strategies import assert_points_or_format_error, corrupt, point_clouds


@given(points=point_clouds())
@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_velodyne_round_trip(tmp_path: Path, points: npt.NDArray[np.float32]) -> None:
    write_kitti_bin(tmp_path / "000000.bin", points)
    assert np.array_equal(read_kitti_bin(tmp_path / "000000.bin"), points)


def test_velodyne_truncated_and_non_finite_files(tmp_path: Path) -> None:
    path = tmp_path / "000001.bin"
    path.write_bytes(np.zeros((3, 4), "<f4").tobytes()[:-2])
    with pytest.raises(FormatError, match=r"000001\.bin: size 46 bytes is not a multiple of 16"):
        read_kitti_bin(path)
    bad = np.zeros((3, 4), "<f4")
    bad.view(np.uint32)[2, 0] = 0x7FA00000  # a signalling NaN
    path.write_bytes(bad.tobytes())
    with pytest.raises(FormatError, match=r"1 non-finite point\(s\), first at index 2"):
        read_kitti_bin(path)
    with pytest.raises(FormatError, match="cannot read KITTI velodyne file"):
        read_kitti_bin(tmp_path / "missing.bin")


def test_velodyne_writer_refuses_wrong_dtype_shape_and_nan(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="expected float32 points, got float64"):
        write_kitti_bin(tmp_path / "a.bin", np.zeros((2, 4)))  # type: ignore[arg-type]
    with pytest.raises(FormatError, match=r"shape \(N, 4\), got \(2, 3\)"):
        write_kitti_bin(tmp_path / "a.bin", np.zeros((2, 3), np.float32))
    with pytest.raises(FormatError, match="non-finite"):
        write_kitti_bin(tmp_path / "a.bin", np.full((1, 4), np.inf, np.float32))
    assert not (tmp_path / "a.bin").exists()


@given(data=st.data())
@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_corrupt_velodyne_files_give_format_errors(tmp_path: Path, data: st.DataObject) -> None:
    path = tmp_path / "points.bin"
    path.write_bytes(corrupt(np.arange(40, dtype="<f4").reshape(10, 4).tobytes(), data))
    assert_points_or_format_error(path, read_kitti_bin)
