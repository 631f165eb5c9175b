"""PCD files as real tools write them (issue 12): padding ``_`` fields, COUNT 0, trailing bytes,
headers that contradict the data. Each is read with one warning saying what was done, or
refused naming the file and the value when it cannot be read unambiguously."""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from core.errors import FormatError
from core.formats._lzf import lzf_compress
from core.formats.pcd import load_pcd, read_pcd


def header(**lines: str) -> str:
    """A PCD header with the given lines (in PCD order); keys are the line names."""
    order = ("FIELDS", "SIZE", "TYPE", "COUNT", "WIDTH", "HEIGHT", "VIEWPOINT", "POINTS", "DATA")
    text = "# .PCD v0.7 - Point Cloud Data file format\nVERSION 0.7\n"
    for key in order:
        if key in lines:
            text += f"{key} {lines[key]}\n"
    return text


def cloud(n: int, seed: int = 0) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    xyz = rng.uniform(-40, 40, size=(n, 3))
    return np.hstack([xyz, rng.uniform(0, 1, size=(n, 1))]).astype(np.float32)


# PCL's PointXYZI in memory: x y z, 4 bytes padding, intensity, 12 bytes padding (32 bytes);
# pcl::io::savePCDFileBinary names the padding '_' fields with COUNT = the padding bytes
XYZI_PCL = np.dtype(
    [("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("p0", "u1", 4), ("i", "<f4"), ("p1", "u1", 12)]
)


def pcl_xyzi(points: npt.NDArray[np.float32]) -> npt.NDArray[np.void]:
    rec = np.zeros(len(points), XYZI_PCL)
    rec["x"], rec["y"], rec["z"], rec["i"] = points.T
    rec["p0"], rec["p1"] = 0xAB, 0xCD  # padding bytes are whatever memory held
    return rec


def test_pcl_padding_fields_named_underscore(tmp_path: Path) -> None:
    points = cloud(50)
    n = len(points)
    h = header(
        FIELDS="x y z _ intensity _",
        SIZE="4 4 4 1 4 1",
        TYPE="F F F U F U",
        COUNT="1 1 1 4 1 12",
        WIDTH=str(n),
        HEIGHT="1",
        POINTS=str(n),
        DATA="binary",
    )
    path = tmp_path / "pcl.pcd"
    path.write_bytes(h.encode() + pcl_xyzi(points).tobytes())
    read = load_pcd(path)
    np.testing.assert_array_equal(read.points, points)
    assert read.warnings == ()  # a consistent file needs no warning


def test_ouster_ros_export_with_count_0_padding_and_ring(tmp_path: Path) -> None:
    # the header of Ouster clouds saved from ROS (a widely copied export script): two '_'
    # fields with COUNT 0 and a 15-byte tail of padding; the record is 48 bytes
    n = 40
    points = cloud(n, seed=3)
    dtype = np.dtype(
        [
            ("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("p0", "u1", 4), ("i", "<f4"),
            ("t", "<u4"), ("refl", "<u2"), ("ring", "u1"), ("p1", "u1", 0), ("amb", "<u2"),
            ("p2", "u1", 0), ("range", "<u4"), ("p3", "u1", 15),
        ]
    )  # fmt: skip
    assert dtype.itemsize == 48
    rec = np.zeros(n, dtype)
    rec["x"], rec["y"], rec["z"] = points[:, :3].T
    rec["i"] = np.round(points[:, 3] * 3000)  # Ouster intensity: photon counts as float
    rec["i"] = np.minimum(rec["i"], 255)  # kept on the 0..255 scale for this test
    rec["ring"] = np.arange(n) % 64
    h = header(
        FIELDS="x y z _ intensity t reflectivity ring _ ambient _ range _",
        SIZE="4 4 4 1 4 4 2 1 1 2 1 4 1",
        TYPE="F F F U F U U U U U U U U",
        COUNT="1 1 1 4 1 1 1 1 0 1 0 1 15",
        WIDTH=str(n),
        HEIGHT="1",
        VIEWPOINT="0 0 0 1 0 0 0",
        POINTS=str(n),
        DATA="binary",
    )
    path = tmp_path / "ouster.pcd"
    path.write_bytes(h.encode() + rec.tobytes())
    read = load_pcd(path)
    np.testing.assert_array_equal(read.points[:, :3], points[:, :3])
    np.testing.assert_allclose(read.points[:, 3], rec["i"] / 255, rtol=1e-6)
    assert read.ring is not None and np.array_equal(read.ring, np.arange(n) % 64)
    assert (
        len(read.warnings) == 1 and "have COUNT 0: taken as occupying no bytes" in read.warnings[0]
    )


def test_count_0_padding_and_more_data_than_the_header_says(tmp_path: Path) -> None:
    # SUSTechPOINTS example-data style: a '_' field with COUNT 0 and a data section longer than
    # POINTS records of the declared width; read as three.js (the tool's viewer) reads it
    n = 30
    points = cloud(n, seed=5)
    points[:, 3] = np.round(points[:, 3] * 255)  # 0..255 floats, as the Hesai driver writes
    h = header(
        FIELDS="x y z intensity _",
        SIZE="4 4 4 4 1",
        TYPE="F F F F U",
        COUNT="1 1 1 1 0",
        WIDTH=str(n),
        HEIGHT="1",
        POINTS=str(n),
        DATA="binary",
    )
    path = tmp_path / "000950.pcd"
    path.write_bytes(h.encode() + points.tobytes() + b"\x00" * 37)
    read = load_pcd(path)
    np.testing.assert_array_equal(read.points[:, :3], points[:, :3])
    np.testing.assert_allclose(read.points[:, 3], points[:, 3] / 255, rtol=1e-6)
    assert read.intensity_rule == "divided by 255"
    text = " | ".join(read.warnings)
    assert "['_'] have COUNT 0" in text
    assert "37 bytes after the 30 records of 16 bytes: ignored" in text


def test_points_disagreeing_with_width_times_height_takes_the_count_the_data_hold(
    tmp_path: Path,
) -> None:
    points = cloud(12)
    for declared, width, height in ((20, 12, 1), (12, 20, 1), (7, 4, 3)):
        h = header(
            FIELDS="x y z intensity",
            SIZE="4 4 4 4",
            TYPE="F F F F",
            WIDTH=str(width),
            HEIGHT=str(height),
            POINTS=str(declared),
            DATA="binary",
        )
        path = tmp_path / f"p{declared}.pcd"
        path.write_bytes(h.encode() + points.tobytes())
        read = load_pcd(path)
        np.testing.assert_array_equal(read.points, points)
        assert any("12 points read, the count the data hold" in w for w in read.warnings)


def test_lists_shorter_than_fields_take_the_record_width_from_the_data(tmp_path: Path) -> None:
    # TYPE/SIZE/COUNT stop before a trailing timestamp field: x y z intensity are still described
    n = 25
    points = cloud(n, seed=7)
    rec = np.zeros(n, [("xyzi", "<f4", 4), ("stamp", "<f8")])
    rec["xyzi"] = points
    h = header(
        FIELDS="x y z intensity timestamp",
        SIZE="4 4 4 4",
        TYPE="F F F F",
        COUNT="1 1 1 1",
        WIDTH=str(n),
        HEIGHT="1",
        POINTS=str(n),
        DATA="binary",
    )
    path = tmp_path / "short.pcd"
    path.write_bytes(h.encode() + rec.tobytes())
    read = load_pcd(path)
    np.testing.assert_array_equal(read.points, points)
    assert any(
        "record width taken from the data: 600 bytes / 25 points = 24" in w for w in read.warnings
    )
    # but a described field after an undescribed one cannot be located: refused
    h2 = h.replace("FIELDS x y z intensity timestamp", "FIELDS timestamp x y z intensity")
    path.write_bytes(h2.encode() + rec.tobytes())
    with pytest.raises(
        FormatError,
        match=r"short\.pcd: cannot read field 'intensity': it or a field before it has no SIZE/TYPE/COUNT",
    ):
        load_pcd(path)


def test_ascii_quirks_extra_columns_extra_lines_and_integer_intensity(tmp_path: Path) -> None:
    h = header(
        FIELDS="x y z intensity",
        SIZE="4 4 4 1",
        TYPE="F F F U",
        COUNT="1 1 1 1",
        WIDTH="3",
        HEIGHT="1",
        POINTS="3",
        DATA="ascii",
    )
    body = b"1 2 3 0 9\n4 5 6 51 9\n7 8 9 255 9\n\n10 11 12 1 9\n"
    path = tmp_path / "a.pcd"
    path.write_bytes(h.encode() + body)
    read = load_pcd(path)
    expected = np.array([[1, 2, 3, 0], [4, 5, 6, 0.2], [7, 8, 9, 1]], np.float32)
    np.testing.assert_allclose(read.points, expected, rtol=1e-6)
    text = " | ".join(read.warnings)
    assert "ascii lines have 5 values, the header declares 4" in text
    assert "1 ascii line(s) after the 3 points: ignored" in text


def test_compressed_block_with_trailing_bytes_and_count_0_field(tmp_path: Path) -> None:
    points = cloud(20, seed=9)
    plain = np.ascontiguousarray(points.T).tobytes()
    packed = lzf_compress(plain)
    h = header(
        FIELDS="x y z _ intensity",
        SIZE="4 4 4 1 4",
        TYPE="F F F U F",
        COUNT="1 1 1 0 1",
        WIDTH="20",
        HEIGHT="1",
        POINTS="20",
        DATA="binary_compressed",
    )
    path = tmp_path / "c.pcd"
    path.write_bytes(h.encode() + struct.pack("<II", len(packed), len(plain)) + packed + b"\n\n")
    read = load_pcd(path)
    np.testing.assert_array_equal(read.points, points)
    assert any("2 bytes after the compressed block: ignored" in w for w in read.warnings)


@pytest.mark.parametrize(
    ("fields", "size", "type_", "count", "message"),
    [
        (
            "x y z intensity",
            "4 4 4 4",
            "F F F F",
            "1 1 0 1",
            r"cannot read field 'z': it has COUNT 0",
        ),
        (
            "x y z intensity",
            "4 4 2 4",
            "F F F F",
            "1 1 1 1",
            r"cannot read field 'z': TYPE F SIZE 2 is not a PCD type",
        ),
        ("x y z intensity", "4 4 4 4", "F F F Q", "1 1 1 1", r"field 'intensity': TYPE Q SIZE 4"),
        ("x y z intensity", "4 4 4 4", "F F F F", "1 1 1 -1", r"field 'intensity' has COUNT -1"),
        ("a y z intensity", "4 4 4 4", "F F F F", "1 1 1 1", r"no 'x' field"),
    ],
)
def test_what_cannot_be_read_unambiguously_is_refused(
    tmp_path: Path, fields: str, size: str, type_: str, count: str, message: str
) -> None:
    h = header(
        FIELDS=fields,
        SIZE=size,
        TYPE=type_,
        COUNT=count,
        WIDTH="4",
        HEIGHT="1",
        POINTS="4",
        DATA="binary",
    )
    path = tmp_path / "bad.pcd"
    path.write_bytes(h.encode() + cloud(4).tobytes())
    with pytest.raises(FormatError, match=rf"bad\.pcd: .*{message}"):
        load_pcd(path)


def test_intensity_with_count_0_is_absent_and_said_so(tmp_path: Path) -> None:
    h = header(
        FIELDS="x y z intensity",
        SIZE="4 4 4 4",
        TYPE="F F F F",
        COUNT="1 1 1 0",
        WIDTH="4",
        HEIGHT="1",
        POINTS="4",
        DATA="binary",
    )
    path = tmp_path / "noi.pcd"
    points = cloud(4)
    path.write_bytes(h.encode() + points[:, :3].tobytes())
    read = load_pcd(path)
    np.testing.assert_array_equal(read.points[:, :3], points[:, :3])
    assert not read.points[:, 3].any()
    text = " | ".join(read.warnings)
    assert "'intensity' has COUNT 0: treated as absent" in text and "intensity set to 0" in text


def test_truncated_data_is_refused_not_read_short(tmp_path: Path) -> None:
    points = cloud(10)
    h = header(
        FIELDS="x y z intensity",
        SIZE="4 4 4 4",
        TYPE="F F F F",
        WIDTH="10",
        HEIGHT="1",
        POINTS="10",
        DATA="binary",
    )
    path = tmp_path / "t.pcd"
    path.write_bytes(h.encode() + points.tobytes()[:-5])
    with pytest.raises(
        FormatError,
        match=r"t\.pcd: header says 10 points of 16 bytes \(160 bytes\) but the data section has 155 bytes \(truncated\?\)",
    ):
        load_pcd(path)
    h = h.replace("DATA binary", "DATA ascii")
    path.write_bytes(h.encode() + b"1 2 3 0.5\n" * 9 + b"1 2 3")
    with pytest.raises(
        FormatError, match=r"line 10 has 3 values, the lines before it 4 \(truncated\)"
    ):
        load_pcd(path)
    path.write_bytes(h.encode() + b"1 2 3 0.5\n" * 9)
    with pytest.raises(FormatError, match=r"header says 10 points but the ascii data has 9 lines"):
        load_pcd(path)


def test_read_pcd_logs_the_warnings(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    points = cloud(5)
    h = header(
        FIELDS="x y z intensity",
        SIZE="4 4 4 4",
        TYPE="F F F F",
        WIDTH="5",
        HEIGHT="1",
        POINTS="5",
        DATA="binary",
    )
    path = tmp_path / "w.pcd"
    path.write_bytes(h.encode() + points.tobytes() + b"xyz")
    with caplog.at_level(logging.WARNING, logger="core.formats.pcd"):
        np.testing.assert_array_equal(read_pcd(path), points)
    assert "3 bytes after the 5 records of 16 bytes: ignored" in caplog.text
