"""KITTI calib files: all matrices, exact transforms, and refusal of malformed files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import FormatError
from core.formats.kitti_calib import (
    KittiCalib,
    parse_kitti_calib,
    read_kitti_calib,
    write_kitti_calib,
)
from tests.core.formats.kitti_fixtures import (
    DATA,
    calibs,
    kitti_calib,
)
from tests.core.formats.strategies import corrupt


def test_calib_reads_all_matrices_and_round_trips(tmp_path: Path) -> None:
    calib = kitti_calib()
    assert calib.p[2][0, 3] == pytest.approx(44.85728)
    assert calib.tr_imu_to_velo is not None and calib.tr_imu_to_velo[0, 3] == pytest.approx(
        -0.8086759
    )
    write_kitti_calib(tmp_path / "c.txt", calib)
    again = read_kitti_calib(tmp_path / "c.txt")
    for a, b in zip(
        (*calib.p, calib.r0_rect, calib.tr_velo_to_cam),
        (*again.p, again.r0_rect, again.tr_velo_to_cam),
        strict=True,
    ):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    np.testing.assert_allclose(calib.velo_to_rect() @ calib.rect_to_velo(), np.eye(4), atol=1e-12)


@given(
    st.lists(st.tuples(st.floats(-100, 100), st.floats(-100, 100), st.floats(-5, 5)), max_size=20),
    calibs(),
)
@settings(max_examples=50, deadline=None)
def test_point_transforms_are_inverse(
    xyz: list[tuple[float, float, float]], calib: KittiCalib
) -> None:
    pts = np.array(xyz, dtype=np.float64).reshape(-1, 3)
    np.testing.assert_allclose(calib.rect_to_lidar(calib.lidar_to_rect(pts)), pts, atol=1e-9)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("R0_rect", "R9_rect"), "no R0_rect entry"),
        (lambda t: t.replace("P2: 7.215377000000e+02 ", "P2: "), "P2 has 11 values, expected 12"),
        (lambda t: t.replace("P3: 7.215377000000e+02", "P3: nan"), "P3 has non-finite values"),
        (lambda t: t.replace("P1: 7.215377000000e+02", "P1: seven"), "line 2 \\(P1\\)"),
        (lambda t: t + "garbage\n", "expected 'key: values'"),
    ],
)
def test_bad_calib_files_are_refused(tmp_path: Path, edit: object, message: str) -> None:
    text = (DATA / "kitti_000000_calib.txt").read_text()
    assert callable(edit)
    path = tmp_path / "000042.txt"
    path.write_text(edit(text))
    with pytest.raises(FormatError, match=rf"000042\.txt: .*{message}"):
        read_kitti_calib(path)


def test_singular_calib_is_refused() -> None:
    text = (DATA / "kitti_000000_calib.txt").read_text()
    text = "\n".join(
        "R0_rect: " + " ".join(["0"] * 9) if line.startswith("R0_rect") else line
        for line in text.splitlines()
    )
    with pytest.raises(FormatError, match="singular"):
        parse_kitti_calib(text, "c.txt")


@given(data=st.data())
@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_corrupt_calib_files_give_format_errors(tmp_path: Path, data: st.DataObject) -> None:
    path = tmp_path / "calib.txt"
    path.write_bytes(corrupt((DATA / "kitti_000000_calib.txt").read_bytes(), data))
    try:
        read_kitti_calib(path)
    except FormatError as exc:
        assert str(path) in str(exc)
