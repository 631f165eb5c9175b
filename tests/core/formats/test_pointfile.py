"""``read_point_file``: the format from the file itself, every format to the same (N, 4) points,
and damaged files refused with a message naming them (never another exception)."""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from pathlib import Path

import laspy
import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import FormatError
from core.formats import pointfile
from core.formats._pcd_body import NO_FINAL_NEWLINE
from core.formats.kitti_bin import write_kitti_bin
from core.formats.nuscenes import encode_nuscenes_points
from core.formats.pcd import encode_pcd
from core.formats.ply import encode_ply
from core.formats.pointfile import MAX_RANGE_M, PointFile, frame_stem, read_point_file
from tests.core.formats.strategies import corrupt


@pytest.fixture(autouse=True)
def fresh_warning_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sees its warnings logged at WARNING (they are logged once per process)."""
    monkeypatch.setattr(pointfile, "_seen", set())


def cloud(n: int = 64, seed: int = 0) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    xyz = rng.uniform(-60, 60, size=(n, 3))
    return np.hstack([xyz, rng.uniform(0, 1, size=(n, 1))]).astype(np.float32)


def nuscenes_bytes(points: npt.NDArray[np.float32], ring: npt.NDArray[np.float32]) -> bytes:
    raw = np.frombuffer(encode_nuscenes_points(points), "<f4").reshape(-1, 5).copy()
    raw[:, 4] = ring
    return raw.tobytes()


def las_bytes(
    tmp_path: Path, points: npt.NDArray[np.float32], *, compress: bool = False, scale: float = 255
) -> bytes:
    """A LAS 1.4 file (point format 1) as laspy writes it: mm coordinates, intensity on the
    given integer scale."""
    header = laspy.LasHeader(point_format=1, version="1.4")
    header.scales = np.array([0.001, 0.001, 0.001])
    header.offsets = np.zeros(3)
    las = laspy.LasData(header)
    las.x, las.y, las.z = points[:, 0], points[:, 1], points[:, 2]
    las.intensity = np.round(points[:, 3] * scale).astype(np.uint16)
    path = tmp_path / ("tmp.laz" if compress else "tmp.las")
    las.write(path, do_compress=compress)
    return path.read_bytes()


def test_each_format_is_known_by_its_content(tmp_path: Path) -> None:
    points = cloud()
    ring = (np.arange(len(points)) % 32).astype(np.float32)
    files: dict[str, bytes] = {
        "a.pcd": encode_pcd(points, data="binary_compressed"),
        "b.ply": encode_ply(points, fmt="ascii"),
        "c.las": las_bytes(tmp_path, points),
        "d.laz": las_bytes(tmp_path, points, compress=True),
        "e.pcd.bin": nuscenes_bytes(points, ring),
        "f.bin": points.tobytes(),
    }
    formats = {}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        read = read_point_file(tmp_path / name)
        formats[name] = read.format
        tol = 6e-4 if name.endswith(("las", "laz")) else 1e-6  # mm grid, 8-bit intensity
        np.testing.assert_allclose(read.points[:, :3], points[:, :3], atol=tol)
        np.testing.assert_allclose(read.points[:, 3], points[:, 3], atol=2e-3)
    assert formats == {
        "a.pcd": "pcd",
        "b.ply": "ply",
        "c.las": "las",
        "d.laz": "laz",
        "e.pcd.bin": "nuscenes_bin",
        "f.bin": "kitti_bin",
    }
    nuscenes = read_point_file(tmp_path / "e.pcd.bin")
    assert nuscenes.ring is not None and np.array_equal(nuscenes.ring, ring.astype(np.uint16))
    assert read_point_file(tmp_path / "f.bin").ring is None


def test_a_nuscenes_sweep_is_never_read_as_kitti(tmp_path: Path) -> None:
    # issue 12: 34,688 points of 20 bytes were read as 43,360 KITTI points; the name decides
    points = cloud(544)  # 10,880 bytes: also a whole number of 16-byte KITTI records
    data = nuscenes_bytes(points, np.zeros(len(points), np.float32))
    assert len(data) % 16 == 0
    path = tmp_path / "n015-2018__LIDAR_TOP__1533151603547590.pcd.bin"
    path.write_bytes(data)
    read = read_point_file(path)
    assert read.format == "nuscenes_bin" and len(read.points) == len(points)
    np.testing.assert_allclose(read.points[:, :3], points[:, :3], atol=1e-5)


@pytest.mark.parametrize(
    ("name", "size", "message"),
    [
        ("x.pcd.bin", 36, r"x\.pcd\.bin: size 36 bytes is not a multiple of the 20-byte nuScenes"),
        ("x.bin", 20, r"x\.bin: size 20 bytes is not a multiple of the 16-byte KITTI velodyne"),
    ],
)
def test_a_headerless_size_that_is_no_whole_record_count_is_refused(
    tmp_path: Path, name: str, size: int, message: str
) -> None:
    (tmp_path / name).write_bytes(np.zeros(size // 4, "<f4").tobytes())
    with pytest.raises(FormatError, match=message):
        read_point_file(tmp_path / name)


def test_intensity_on_the_0_255_scale_in_a_kitti_file_is_scaled_and_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    points = cloud()
    scaled = points.copy()
    scaled[:, 3] = np.round(points[:, 3] * 255)
    write_kitti_bin(tmp_path / "000001.bin", scaled)
    with caplog.at_level(logging.WARNING, logger="core.formats.pointfile"):
        read = read_point_file(tmp_path / "000001.bin")
    np.testing.assert_allclose(read.points[:, 3], scaled[:, 3] / 255, rtol=1e-6)
    assert read.intensity_rule == "divided by 255"
    assert "intensity should be [0, 1] for this format but the file holds" in caplog.text
    scaled[0, 3] = 1000.0
    write_kitti_bin(tmp_path / "000002.bin", scaled)
    with pytest.raises(FormatError, match=r"000002\.bin: float intensity range \[\d+, 1000\]"):
        read_point_file(tmp_path / "000002.bin")


def test_the_header_wins_over_the_name_with_a_warning(tmp_path: Path) -> None:
    points = cloud()
    (tmp_path / "scan.bin").write_bytes(encode_pcd(points))
    read = read_point_file(tmp_path / "scan.bin")
    assert read.format == "pcd"
    np.testing.assert_array_equal(read.points, points)
    assert "the name says kitti_bin but the file has a pcd header" in read.warnings[-1]


def test_unknown_unreadable_and_far_away_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "scan.xyz").write_bytes(b"1 2 3\n")
    with pytest.raises(FormatError, match=r"scan\.xyz: unknown point file format"):
        read_point_file(tmp_path / "scan.xyz")
    (tmp_path / "headerless.pcd").write_bytes(cloud().tobytes())
    with pytest.raises(FormatError, match=r"headerless\.pcd: unknown point file format"):
        read_point_file(tmp_path / "headerless.pcd")
    with pytest.raises(FormatError, match=r"nope\.bin: cannot read point file"):
        read_point_file(tmp_path / "nope.bin")
    far = cloud()
    far[:, 0] += 500_000.0  # UTM easting: a georeferenced tile, not a sensor-frame sweep
    (tmp_path / "tile.las").write_bytes(las_bytes(tmp_path, far))
    with pytest.raises(
        FormatError, match=rf"tile\.las: a coordinate reaches .* beyond {MAX_RANGE_M:g} m"
    ):
        read_point_file(tmp_path / "tile.las")


def test_las_intensity_scales_and_truncation(tmp_path: Path) -> None:
    points = cloud()
    (tmp_path / "a.las").write_bytes(las_bytes(tmp_path, points, scale=65535))
    read = read_point_file(tmp_path / "a.las")
    assert read.intensity_rule == "divided by 65535"
    np.testing.assert_allclose(read.points[:, 3], points[:, 3], atol=1e-4)
    data = las_bytes(tmp_path, points)
    (tmp_path / "t.las").write_bytes(data[:-30])
    with pytest.raises(FormatError, match=r"t\.las: "):
        read_point_file(tmp_path / "t.las")
    zero = points.copy()
    zero[:, 3] = 0
    (tmp_path / "z.las").write_bytes(las_bytes(tmp_path, zero))
    assert "every intensity is 0" in read_point_file(tmp_path / "z.las").warnings[0]


@pytest.mark.parametrize(
    ("offset", "fmt", "value", "message"),
    [
        (100, "<I", 1_291_845_632, r"declares 1291845632 variable-length records, but only"),
        (96, "<I", 10**9, r"size 375 and point data offset 1000000000 do not fit a file of"),
        (243, "<I", 7, r"declares 7 extended records from byte"),
    ],
)
def test_las_record_counts_the_file_cannot_hold_are_refused_before_laspy(
    tmp_path: Path, offset: int, fmt: str, value: int, message: str
) -> None:
    # a fuzzed file with one flipped byte in the VLR count kept laspy looping for minutes
    data = bytearray(las_bytes(tmp_path, cloud(10)))
    struct.pack_into(fmt, data, offset, value)
    if offset == 243:  # extended records placed past the end of the file
        struct.pack_into("<Q", data, 235, len(data) - 10)
    (tmp_path / "v.las").write_bytes(bytes(data))
    with pytest.raises(FormatError, match=r"v\.las: LAS header " + message):
        read_point_file(tmp_path / "v.las")


def test_a_laz_chunk_table_larger_than_the_file_is_refused_not_allocated(tmp_path: Path) -> None:
    # found by the fuzz test: a damaged chunk count of 1954613167 made lazrs ask for 31 GB and
    # abort the process (a Rust allocation failure is not an exception)
    data = bytearray(las_bytes(tmp_path, cloud(40), compress=True))
    point_offset = struct.unpack_from("<I", data, 96)[0]
    table = struct.unpack_from("<q", data, point_offset)[0]
    struct.pack_into("<I", data, table + 4, 1_954_613_167)
    (tmp_path / "c.laz").write_bytes(bytes(data))
    with pytest.raises(
        FormatError, match=r"c\.laz: LAZ chunk table \(version 0\) lists 1954613167"
    ):
        read_point_file(tmp_path / "c.laz")
    struct.pack_into("<q", data, point_offset, len(data) + 100)
    (tmp_path / "o.laz").write_bytes(bytes(data))
    with pytest.raises(FormatError, match=r"o\.laz: LAZ chunk table at byte \d+, outside a file"):
        read_point_file(tmp_path / "o.laz")


def test_frame_stem_strips_the_whole_point_suffix() -> None:
    assert frame_stem(Path("000007.pcd.bin")) == "000007"
    assert frame_stem(Path("000007.PCD")) == "000007"
    assert frame_stem(Path("a.b.laz")) == "a.b"


def test_warnings_are_logged_once_per_kind(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for i in range(3):
        data = encode_pcd(cloud(8 + i)) + b"\0" * (i + 1)
        (tmp_path / f"{i}.pcd").write_bytes(data)
    with caplog.at_level(logging.WARNING, logger="core.formats.pointfile"):
        reads = [read_point_file(tmp_path / f"{i}.pcd") for i in range(3)]
    assert all(len(r.warnings) == 1 for r in reads)
    assert caplog.text.count("bytes after the") == 1


def quirky_pcd(points: npt.NDArray[np.float32]) -> bytes:
    """A PCD as real tools write them: '_' padding with COUNT 0 and 4, uint8 intensity, a ring,
    POINTS disagreeing with WIDTH, and trailing bytes after the records."""
    n = len(points)
    rec = np.zeros(
        n, [("xyz", "<f4", 3), ("pad", "u1", 4), ("i", "u1"), ("ring", "<u2"), ("tail", "u1", 5)]
    )
    rec["xyz"] = points[:, :3]
    rec["i"] = np.round(points[:, 3] * 255)
    rec["ring"] = np.arange(n) % 40
    header = (
        "# .PCD v0.7 - Point Cloud Data file format\nVERSION 0.7\n"
        "FIELDS x y z _ intensity ring _ _\nSIZE 4 4 4 1 1 2 1 1\nTYPE F F F U U U U U\n"
        f"COUNT 1 1 1 4 1 1 0 5\nWIDTH {n}\nHEIGHT 1\nPOINTS {n + 3}\nDATA binary\n"
    )
    return header.encode() + rec.tobytes() + b"\0\0\n"


def test_the_quirky_pcd_reads_back(tmp_path: Path) -> None:
    points = cloud(12)
    (tmp_path / "q.pcd").write_bytes(quirky_pcd(points))
    read = read_point_file(tmp_path / "q.pcd")
    np.testing.assert_array_equal(read.points[:, :3], points[:, :3])
    np.testing.assert_allclose(read.points[:, 3], points[:, 3], atol=2.5e-3)
    assert read.ring is not None and np.array_equal(read.ring, np.arange(12) % 40)
    assert len(read.warnings) == 3  # COUNT 0, the trailing bytes, POINTS vs WIDTH


Writer = Callable[[Path, npt.NDArray[np.float32]], bytes]
WRITERS: dict[str, Writer] = {
    "scan.pcd": lambda _t, p: encode_pcd(p, data="binary"),
    "scan_c.pcd": lambda _t, p: encode_pcd(p, data="binary_compressed"),
    "scan_a.pcd": lambda _t, p: encode_pcd(p, data="ascii"),
    "scan_q.pcd": lambda _t, p: quirky_pcd(p),
    "scan.ply": lambda _t, p: encode_ply(p),
    "scan_a.ply": lambda _t, p: encode_ply(p, fmt="ascii"),
    "scan.las": lambda t, p: las_bytes(t, p),
    "scan.laz": lambda t, p: las_bytes(t, p, compress=True),
    "scan.pcd.bin": lambda _t, p: nuscenes_bytes(p, np.arange(len(p), dtype=np.float32)),
    "scan.bin": lambda _t, p: p.tobytes(),
}


#: bytes after the last record that a writer adds (and the reader ignores)
TRAILING = {"scan_q.pcd": 3}


def assert_read_or_refused(path: Path) -> None:
    """A damaged file is a FormatError naming it, or points the model can take."""
    try:
        read = read_point_file(path)
    except FormatError as exc:
        assert str(path) in str(exc)
        return
    assert isinstance(read, PointFile)
    points = read.points
    assert points.dtype == np.float32 and points.ndim == 2 and points.shape[1] == 4
    assert np.isfinite(points).all()
    assert (points[:, 3] >= 0).all() and (points[:, 3] <= 1).all()
    assert (np.abs(points[:, :3]) <= MAX_RANGE_M).all()


@pytest.mark.parametrize("name", sorted(WRITERS))
@given(data=st.data())
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_truncated_or_corrupted_files_are_refused_or_read_sanely(
    tmp_path: Path, name: str, data: st.DataObject
) -> None:
    clean = WRITERS[name](tmp_path, cloud(40))
    path = tmp_path / f"fuzz_{name}"
    path.write_bytes(corrupt(clean, data))
    assert_read_or_refused(path)


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_every_truncation_point_of_the_header_and_records_is_refused_precisely(
    tmp_path: Path, name: str
) -> None:
    clean = WRITERS[name](tmp_path, cloud(6))
    path = tmp_path / f"cut_{name}"
    end = len(clean) - 1 - TRAILING.get(name, 0)  # cutting only ignored trailing bytes is fine
    for cut in range(0, end, max(1, len(clean) // 60)):
        path.write_bytes(clean[:cut])
        try:
            read = read_point_file(path)
        except FormatError as exc:
            assert str(path) in str(exc)
            continue
        # a cut that leaves whole records of a headerless format, or an empty cloud, is valid;
        # an ascii file cut inside its last value cannot be told from a shorter value: warned
        assert len(read.points) < 6 or NO_FINAL_NEWLINE in read.warnings, (name, cut)
