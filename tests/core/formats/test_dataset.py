"""The on-disk dataset layout: a written dataset reads back, and bad files name themselves."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from core.classes import POINT_CLASS_IDS
from core.errors import FormatError
from core.formats.dataset import Dataset, DatasetWriter, FrameLabels, ObjectLabel, wrap_yaw
from core.formats.semantic_kitti import PointLabels


def frame(index: int) -> tuple[npt.NDArray[np.float32], FrameLabels]:
    rng = np.random.default_rng(index)
    points = rng.uniform(-50, 50, (100 + index, 4)).astype(np.float32)
    points[:, 3] = rng.uniform(0, 1, len(points))
    objects = (
        ObjectLabel("car", 3, (10.0, -2.0, -0.8, 4.5, 1.9, 1.6, 0.25), 412),
        ObjectLabel("deer", 9, (25.5, 4.0, -0.9, 1.6, 0.5, 1.2, -math.pi / 3), 37),
    )
    return points, FrameLabels(
        index, 1_700_000_000_000_000_000 + index, (1, 2, 0, 0, 0, 0.1), objects
    )


def write_dataset(root: Path, count: int = 3) -> None:
    writer = DatasetWriter(root)
    writer.write_meta({"sensor": "hdl64", "seed": 7, "scenario": "urban"})
    for index in range(count):
        writer.write_frame(*frame(index))


def test_written_dataset_reads_back(tmp_path: Path) -> None:
    write_dataset(tmp_path)
    dataset = Dataset(tmp_path)
    assert len(dataset) == 3 and dataset.indices == [0, 1, 2]
    assert dataset.meta() == {"sensor": "hdl64", "seed": 7, "scenario": "urban"}
    for (points, labels), index in zip(dataset, range(3), strict=True):
        expected_points, expected = frame(index)
        assert np.array_equal(points, expected_points)
        assert labels is not None
        assert (labels.index, labels.timestamp_ns, labels.pose) == (
            expected.index,
            expected.timestamp_ns,
            expected.pose,
        )
        assert labels.class_names() == ["car", "deer"]
        np.testing.assert_allclose(
            labels.boxes(), expected.boxes(), atol=1e-6
        )  # 6 decimals on disk
        assert [o.track_id for o in labels.objects] == [3, 9]


def test_unlabelled_frames_and_missing_meta(tmp_path: Path) -> None:
    write_dataset(tmp_path, count=2)
    (tmp_path / "labels" / "000001.json").unlink()
    (tmp_path / "meta.json").unlink()
    dataset = Dataset(tmp_path)
    assert dataset.meta() == {}
    assert [labels is None for _, labels in dataset] == [False, True]


def test_not_a_dataset_directory(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="not a dataset directory"):
        Dataset(tmp_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{broken", "cannot read label file"),
        (json.dumps({"frame": 0}), "bad label file"),
        (json.dumps({"frame": 0, "objects": [{"class": "car"}]}), "bad object entry"),
        (
            json.dumps(
                {
                    "frame": 0,
                    "objects": [{"class": "car", "track_id": 1, "box": [0] * 6, "num_points": 1}],
                }
            ),
            "box must be 7 finite numbers",
        ),
        (
            json.dumps(
                {
                    "frame": 0,
                    "objects": [
                        {
                            "class": "car",
                            "track_id": 1,
                            "box": [0, 0, 0, 1, 0, 1, 0],
                            "num_points": 1,
                        }
                    ],
                }
            ),
            "box dimensions must be positive",
        ),
        (
            '{"frame": 0, "objects": [{"class": "car", "track_id": 1, "box": [0, 0, NaN, 1, 1, 1, 0], "num_points": 1}]}',
            "finite",
        ),
        (
            json.dumps({"frame": 0, "objects": [], "pose": [1, 2, 3]}),
            "pose must have 6 finite values",
        ),
        (json.dumps([1, 2]), "bad label file"),
    ],
)
def test_bad_label_files_name_the_file(tmp_path: Path, content: str, message: str) -> None:
    write_dataset(tmp_path, count=1)
    path = tmp_path / "labels" / "000000.json"
    path.write_text(content)
    with pytest.raises(FormatError, match=message) as info:
        Dataset(tmp_path).labels(0)
    assert str(path) in str(info.value)


def test_bad_meta_and_points_name_the_file(tmp_path: Path) -> None:
    write_dataset(tmp_path, count=1)
    (tmp_path / "meta.json").write_text("[1]")
    with pytest.raises(FormatError, match=r"meta\.json: expected a JSON object, got list"):
        Dataset(tmp_path).meta()
    velodyne = tmp_path / "velodyne" / "000000.bin"
    velodyne.write_bytes(velodyne.read_bytes()[:-3])
    with pytest.raises(
        FormatError, match=r"000000\.bin: size .* not a multiple of the 16-byte KITTI"
    ):
        Dataset(tmp_path).points(0)


@pytest.mark.parametrize(
    ("angle", "wrapped"),
    [
        (0.0, 0.0),
        (math.pi, math.pi),
        (-math.pi, math.pi),
        (3 * math.pi, math.pi),
        (2 * math.pi + 0.5, 0.5),
        (-2.0, -2.0),
    ],
)
def test_wrap_yaw_range(angle: float, wrapped: float) -> None:
    assert wrap_yaw(angle) == pytest.approx(wrapped)
    assert -math.pi < wrap_yaw(angle) <= math.pi


def point_labels_of(points: npt.NDArray[np.float32]) -> PointLabels:
    above = points[:, 2] > 0
    semantic = np.where(above, POINT_CLASS_IDS["car"], POINT_CLASS_IDS["road"])
    return PointLabels(semantic.astype(np.uint16), np.where(above, 3, 0).astype(np.uint16))


def test_point_labels_read_back_aligned_and_are_declared_in_meta(tmp_path: Path) -> None:
    writer = DatasetWriter(tmp_path)
    for index in range(2):
        points, labels = frame(index)
        writer.write_frame(points, labels, point_labels_of(points))
    meta = writer.write_meta({"seed": 7})
    assert meta["point_labels"] == {
        "format": "semantic_kitti",
        "dir": "point_labels",
        "class_ids": POINT_CLASS_IDS,
    }
    dataset = Dataset(tmp_path)
    assert dataset.carries_point_labels() and dataset.meta() == json.loads(json.dumps(meta))
    for index in range(2):
        points = dataset.points(index)
        got = dataset.point_labels(index)
        assert got is not None
        want = point_labels_of(points)
        assert np.array_equal(got.semantic, want.semantic)
        assert np.array_equal(got.instance, want.instance)


def test_drives_without_point_labels_give_none(tmp_path: Path) -> None:
    write_dataset(tmp_path, count=1)  # the layout as it was before point labels
    dataset = Dataset(tmp_path)
    assert "point_labels" not in dataset.meta() and not dataset.carries_point_labels()
    assert dataset.point_labels(0) is None


def test_bad_point_label_files_name_the_file(tmp_path: Path) -> None:
    writer = DatasetWriter(tmp_path)
    points, labels = frame(0)
    with pytest.raises(FormatError, match=r"000000\.label: expected 100 labels .*found 99"):
        writer.write_frame(points, labels, point_labels_of(points[:99]))
    assert not (tmp_path / "velodyne" / "000000.bin").exists()  # nothing of the frame written
    writer.write_frame(points, labels, point_labels_of(points))
    writer.write_meta({})
    path = tmp_path / "point_labels" / "000000.label"
    good = path.read_bytes()
    path.write_bytes(good[:-4])
    with pytest.raises(FormatError, match=r"000000\.label: expected 100 labels .*found 99"):
        Dataset(tmp_path).point_labels(0)
    path.write_bytes(good[:-4] + np.array([17], "<u4").tobytes())
    with pytest.raises(FormatError, match=r"000000\.label: unknown point class id\(s\) \[17\]"):
        Dataset(tmp_path).point_labels(0)
    path.unlink()
    with pytest.raises(FormatError, match=r"000000\.label: missing, but meta\.json declares"):
        Dataset(tmp_path).point_labels(0)
