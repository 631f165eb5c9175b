"""PLY reading: the three formats, skipped elements and properties, and refusal of bad files.

``data/open3d_box_binary.ply`` is a golden file written by Open3D 0.19: the 8 corners of a
2 x 1 x 0.5 m box as double x y z, followed by a face element with list properties.
"""

from __future__ import annotations

from itertools import product
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import FormatError
from core.formats.ply import PlyFormat, encode_ply, read_ply, write_ply
from tests.core.formats.strategies import assert_points_or_format_error, corrupt, point_clouds

DATA = Path(__file__).parent / "data"
FORMATS: tuple[PlyFormat, ...] = ("ascii", "binary_little_endian", "binary_big_endian")


def sample() -> npt.NDArray[np.float32]:
    i = np.arange(20, dtype=np.float32)
    return np.stack([i, -i / 3, i / 7, i / 19], axis=1).astype(np.float32)


@pytest.mark.parametrize("fmt", FORMATS)
@given(points=point_clouds(max_points=200))
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_write_read_round_trip_is_exact(
    tmp_path: Path, fmt: PlyFormat, points: npt.NDArray[np.float32]
) -> None:
    path = tmp_path / f"scan_{fmt}.ply"
    write_ply(path, points, fmt=fmt)
    assert np.array_equal(read_ply(path).view(np.uint32), points.view(np.uint32))


def test_golden_open3d_mesh_with_faces() -> None:
    points = read_ply(DATA / "open3d_box_binary.ply")
    corners = {(x, y, z) for x, y, z in product((0.0, 2.0), (0.0, 1.0), (0.0, 0.5))}
    assert {tuple(p) for p in points[:, :3].tolist()} == corners
    assert (points[:, 3] == 0).all()


def test_elements_before_the_vertex_and_extra_properties(tmp_path: Path) -> None:
    header = (
        "ply\nformat binary_big_endian 1.0\ncomment camera first\nelement camera 2\n"
        "property float fx\nproperty uchar id\nelement vertex 3\nproperty uchar red\n"
        "property double x\nproperty double y\nproperty double z\nproperty ushort intensity\n"
        "element face 1\nproperty list uchar int vertex_indices\nend_header\n"
    )
    camera = np.zeros(2, dtype=[("fx", ">f4"), ("id", "u1")])
    vertex = np.zeros(
        3, dtype=[("r", "u1"), ("x", ">f8"), ("y", ">f8"), ("z", ">f8"), ("i", ">u2")]
    )
    vertex["x"], vertex["y"], vertex["z"] = [1, 2, 3], [4, 5, 6], [7, 8, 9]
    vertex["i"] = [0, 32768, 65535]
    face = b"\x03" + np.array([0, 1, 2], ">i4").tobytes()
    path = tmp_path / "scene.ply"
    path.write_bytes(header.encode() + camera.tobytes() + vertex.tobytes() + face)
    points = read_ply(path)
    assert np.array_equal(points[:, :3], [[1, 4, 7], [2, 5, 8], [3, 6, 9]])
    np.testing.assert_allclose(points[:, 3], [0, 32768 / 65535, 1.0], rtol=1e-6)


def test_ascii_with_faces_after_vertices(tmp_path: Path) -> None:
    text = (
        "ply\nformat ascii 1.0\nelement vertex 2\nproperty float x\nproperty float y\n"
        "property float z\nproperty uchar intensity\nelement face 1\n"
        "property list uchar int vertex_indices\nend_header\n1 2 3 255\n4 5 6 0\n3 0 1 1\n"
    )
    path = tmp_path / "a.ply"
    path.write_text(text)
    assert np.array_equal(read_ply(path), [[1, 2, 3, 1], [4, 5, 6, 0]])


def test_size_mismatches_name_the_file(tmp_path: Path) -> None:
    data = encode_ply(sample())
    path = tmp_path / "cloud.ply"
    path.write_bytes(data[:-5])
    with pytest.raises(
        FormatError,
        match=r"cloud\.ply: header says 20 vertices of 16 bytes at offset 0 \(320 bytes\)",
    ):
        read_ply(path)
    path.write_bytes(data + b"\0")
    with pytest.raises(FormatError, match="has 321 bytes, the header accounts for 320"):
        read_ply(path)
    ascii_data = encode_ply(sample(), fmt="ascii")
    path.write_bytes(ascii_data.rsplit(b"\n", 3)[0])
    with pytest.raises(FormatError, match="20 vertices but only 18 lines follow"):
        read_ply(path)


def test_non_finite_vertices_are_refused_or_dropped(tmp_path: Path) -> None:
    points = sample()
    points[4, 2] = np.inf
    header = encode_ply(sample()).split(b"end_header\n")[0] + b"end_header\n"
    path = tmp_path / "inf.ply"
    path.write_bytes(header + points.astype("<f4").tobytes())
    with pytest.raises(FormatError, match=r"inf\.ply: 1 non-finite point\(s\), first at index 4"):
        read_ply(path)
    assert read_ply(path, drop_invalid=True).shape == (19, 4)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("plyx\nformat ascii 1.0\nend_header\n", "not a PLY file"),
        ("ply\nformat binary_middle_endian 1.0\nend_header\n", "unsupported or missing PLY format"),
        ("ply\nformat ascii 1.0\nelement face 1\nend_header\n", "no vertex element"),
        (
            "ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nend_header\n",
            "no 'y' property",
        ),
        ("ply\nformat ascii 1.0\nelement vertex x\nend_header\n", "bad element count"),
        (
            "ply\nformat ascii 1.0\nelement vertex 1\nproperty quad x\nend_header\n",
            "bad property line",
        ),
        ("ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\n", "no 'end_header' line"),
    ],
)
def test_bad_headers_are_refused(tmp_path: Path, header: str, message: str) -> None:
    path = tmp_path / "bad.ply"
    path.write_text(header)
    with pytest.raises(FormatError, match=message):
        read_ply(path)


@pytest.mark.parametrize("fmt", FORMATS)
@given(data=st.data())
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_random_truncation_and_corruption_never_escape_as_other_errors(
    tmp_path: Path, fmt: PlyFormat, data: st.DataObject
) -> None:
    path = tmp_path / f"fuzz_{fmt}.ply"
    path.write_bytes(corrupt(encode_ply(sample(), fmt=fmt), data))
    assert_points_or_format_error(path, read_ply)


@pytest.mark.parametrize("order", ["<", ">"])
def test_binary_list_elements_before_and_after_the_vertices_are_walked(
    tmp_path: Path, order: str
) -> None:
    fmt = "binary_little_endian" if order == "<" else "binary_big_endian"
    header = (
        f"ply\nformat {fmt} 1.0\nelement tag 2\nproperty list ushort uchar name\n"
        "property float weight\nelement vertex 2\nproperty float x\nproperty float y\n"
        "property float z\nelement face 2\nproperty list uchar int vertex_indices\nend_header\n"
    )
    tags = b"".join(
        np.array([len(name)], order + "u2").tobytes() + name + np.array([w], order + "f4").tobytes()
        for name, w in ((b"road", 1.0), (b"x" * 300, 2.0))  # a count above 255 needs both bytes
    )
    vertices = np.array([[1, 2, 3], [4, 5, 6]], order + "f4").tobytes()
    faces = b"\x03" + np.array([0, 1, 0], order + "i4").tobytes() + b"\x00"
    path = tmp_path / f"tagged_{fmt}.ply"
    path.write_bytes(header.encode() + tags + vertices + faces)
    assert np.array_equal(read_ply(path), np.array([[1, 2, 3, 0], [4, 5, 6, 0]], np.float32))
    path.write_bytes(header.encode() + tags + vertices + faces[:-2])
    with pytest.raises(FormatError, match="data ends inside the 2 rows of element 'face'"):
        read_ply(path)
    path.write_bytes(header.encode() + tags[:-3])
    with pytest.raises(FormatError, match="data ends inside the 2 rows of element 'tag'"):
        read_ply(path)
    path.write_bytes(header.encode() + tags + vertices + faces + b"\0")
    with pytest.raises(FormatError, match="has 355 bytes, the header accounts for 354"):
        read_ply(path)
