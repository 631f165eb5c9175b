"""PCD reading and writing: all three data kinds, field handling, and refusal of bad files.

``data/open3d_binary_compressed.pcd`` is a golden file written by Open3D 0.19 (PCL's liblzf):
64 points, x = 0.25 i - 8, y = sin(i) * 3, z = -1.5, intensity = (i % 8) / 7.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import FormatError
from core.formats.pcd import PcdData, encode_pcd, read_pcd, write_pcd
from tests.core.formats.strategies import assert_points_or_format_error, corrupt, point_clouds

DATA = Path(__file__).parent / "data"
KINDS: tuple[PcdData, ...] = ("ascii", "binary", "binary_compressed")


def golden_points() -> npt.NDArray[np.float32]:
    i = np.arange(64, dtype=np.float32)
    xyz = np.stack([i * 0.25 - 8, np.sin(i) * 3, np.full(64, -1.5, np.float32)], axis=1)
    return np.hstack([xyz, ((i % 8) / 7)[:, None]]).astype(np.float32)


def pcd_bytes(header: str, body: bytes) -> bytes:
    return header.strip().encode("ascii") + b"\n" + body


def test_golden_open3d_binary_compressed_file() -> None:
    points = read_pcd(DATA / "open3d_binary_compressed.pcd")
    assert np.array_equal(points, golden_points())


@pytest.mark.parametrize("kind", KINDS)
@given(points=point_clouds(max_points=200))
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_write_read_round_trip_is_exact(
    tmp_path: Path, kind: PcdData, points: npt.NDArray[np.float32]
) -> None:
    path = tmp_path / f"scan_{kind}.pcd"
    write_pcd(path, points, data=kind)
    assert np.array_equal(read_pcd(path).view(np.uint32), points.view(np.uint32))


def test_types_counts_extra_fields_and_organised_clouds(tmp_path: Path) -> None:
    # 2 x 3 organised cloud: padding field, double x, COUNT 2 normal, uint8 intensity, float y z
    dtype = np.dtype(
        [("pad", "u1"), ("x", "<f8"), ("n", "<f4", (2,)), ("i", "u1"), ("y", "<f4"), ("z", "<f4")]
    )
    rec = np.zeros(6, dtype=dtype)
    rec["x"], rec["y"], rec["z"] = np.arange(6), np.arange(6) * 2, -1.0
    rec["i"] = [0, 51, 102, 153, 204, 255]
    header = """
        # comment
        VERSION .7
        FIELDS _ x normal intensity y z
        SIZE 1 8 4 1 4 4
        TYPE U F F U F F
        COUNT 1 1 2 1 1 1
        WIDTH 3
        HEIGHT 2
        VIEWPOINT 0 0 0 1 0 0 0
        POINTS 6
        DATA binary
    """
    path = tmp_path / "organised.pcd"
    path.write_bytes(
        pcd_bytes("\n".join(line.strip() for line in header.splitlines()), rec.tobytes())
    )
    points = read_pcd(path)
    assert points.shape == (6, 4)
    assert np.array_equal(points[:, 0], np.arange(6)) and np.array_equal(
        points[:, 1], np.arange(6) * 2
    )
    np.testing.assert_allclose(points[:, 3], [0, 0.2, 0.4, 0.6, 0.8, 1.0], atol=1e-7)


def test_missing_intensity_is_zero_and_0_255_floats_are_scaled(tmp_path: Path) -> None:
    header = "VERSION 0.7\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\nWIDTH 2\nHEIGHT 1\nPOINTS 2\nDATA ascii"
    path = tmp_path / "a.pcd"
    path.write_bytes(pcd_bytes(header, b"1 2 3\n4 5 6\n"))
    assert np.array_equal(read_pcd(path), [[1, 2, 3, 0], [4, 5, 6, 0]])
    header = header.replace("x y z", "x y z intensity").replace("4 4 4", "4 4 4 4")
    header = header.replace("F F F", "F F F F").replace("1 1 1", "1 1 1 1")
    path.write_bytes(pcd_bytes(header, b"1 2 3 12.75\n4 5 6 255\n"))
    np.testing.assert_allclose(read_pcd(path)[:, 3], [0.05, 1.0], rtol=1e-6)
    path.write_bytes(pcd_bytes(header, b"1 2 3 300\n4 5 6 255\n"))
    with pytest.raises(FormatError, match=r"intensity range \[255, 300\]"):
        read_pcd(path)


def test_organised_cloud_with_nan_points(tmp_path: Path) -> None:
    points = np.array([[1, 2, 3, 0.5], [np.nan, np.nan, np.nan, 0], [4, 5, 6, 1]], np.float32)
    header = "VERSION 0.7\nFIELDS x y z intensity\nSIZE 4 4 4 4\nTYPE F F F F\nWIDTH 3\nHEIGHT 1\nPOINTS 3\nDATA binary"
    path = tmp_path / "nan.pcd"
    path.write_bytes(pcd_bytes(header, points.tobytes()))
    with pytest.raises(FormatError, match=r"nan\.pcd: 1 non-finite point\(s\), first at index 1"):
        read_pcd(path)
    assert np.array_equal(read_pcd(path, drop_invalid=True), points[[0, 2]])


def test_binary_size_mismatch_names_file_and_sizes(tmp_path: Path) -> None:
    data = encode_pcd(golden_points()[:10], data="binary")
    path = tmp_path / "scan.pcd"
    path.write_bytes(data[:-16])
    with pytest.raises(
        FormatError,
        match=r"scan\.pcd: header says 10 points of 16 bytes \(160 bytes\) but the data section has 144 bytes",
    ):
        read_pcd(path)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda h: h.replace("FIELDS x y z intensity", "FIELDS a y z intensity"), "no 'x' field"),
        (
            lambda h: h.replace("SIZE 4 4 4 4", "SIZE 4 4 4"),
            "cannot read field 'intensity': it or a field before it has no SIZE/TYPE/COUNT",
        ),
        (lambda h: h.replace("TYPE F F F F", "TYPE F F F Q"), "TYPE Q SIZE 4 is not a PCD type"),
        (
            lambda h: h.replace("POINTS 10", "POINTS 11").replace("WIDTH 10", "WIDTH 12"),
            r"says 11 points of 16 bytes \(176 bytes\) but the data section has 160 bytes",
        ),
        (lambda h: h.replace("DATA binary", "DATA zip"), "unsupported DATA 'zip'"),
        (lambda h: h.replace("WIDTH 10", "WIDTH ten"), "WIDTH must be"),
        (lambda h: h.replace("DATA binary", "DAT binary"), "no 'DATA' line"),
    ],
)
def test_bad_headers_are_refused(tmp_path: Path, edit: object, message: str) -> None:
    data = encode_pcd(golden_points()[:10], data="binary")
    split = data.index(b"DATA binary\n") + len(b"DATA binary\n")
    header = data[:split].decode()
    assert callable(edit)
    path = tmp_path / "h.pcd"
    path.write_bytes(edit(header).encode() + data[split:])
    with pytest.raises(FormatError, match=message):
        read_pcd(path)


def test_compressed_block_sizes_are_checked_before_decompressing(tmp_path: Path) -> None:
    data = encode_pcd(golden_points(), data="binary_compressed")
    split = data.index(b"DATA binary_compressed\n") + len(b"DATA binary_compressed\n")
    compressed, plain = struct.unpack_from("<II", data, split)
    path = tmp_path / "c.pcd"
    path.write_bytes(data[:split] + struct.pack("<II", compressed, 2**32 - 1) + data[split + 8 :])
    with pytest.raises(FormatError, match="cannot expand to the declared 4294967295 bytes"):
        read_pcd(path)
    path.write_bytes(data[:-3])
    with pytest.raises(
        FormatError, match=f"declares {compressed} bytes but {compressed - 3} follow"
    ):
        read_pcd(path)
    assert plain == 64 * 16


def test_ascii_with_a_bad_token_or_count(tmp_path: Path) -> None:
    data = encode_pcd(golden_points()[:3], data="ascii")
    path = tmp_path / "t.pcd"
    path.write_bytes(data.replace(b"-1.5", b"abc", 1))
    with pytest.raises(FormatError, match="not a number"):
        read_pcd(path)
    path.write_bytes(data.rsplit(b" ", 1)[0])
    with pytest.raises(
        FormatError, match=r"line 3 has 3 values, the lines before it 4 \(truncated\)"
    ):
        read_pcd(path)


def test_missing_file_is_a_format_error(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match=r"nope\.pcd: cannot read PCD file"):
        read_pcd(tmp_path / "nope.pcd")


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data())
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_random_truncation_and_corruption_never_escape_as_other_errors(
    tmp_path: Path, kind: PcdData, data: st.DataObject
) -> None:
    path = tmp_path / f"fuzz_{kind}.pcd"
    path.write_bytes(corrupt(encode_pcd(golden_points(), data=kind), data))
    assert_points_or_format_error(path, read_pcd)


def test_signalling_nan_is_a_format_error_not_a_warning(tmp_path: Path) -> None:
    points = golden_points()[:4].copy()
    points.view(np.uint32)[2, 0] = 0x7FA00000  # signalling NaN: widening it raises FE_INVALID
    path = tmp_path / "snan.pcd"
    path.write_bytes(
        encode_pcd(golden_points()[:4]).split(b"DATA binary\n")[0]
        + b"DATA binary\n"
        + points.tobytes()
    )
    with pytest.raises(FormatError, match=r"first at index 2"):
        read_pcd(path)
    assert read_pcd(path, drop_invalid=True).shape == (3, 4)
