"""Every export format, read back with the project's own readers: boxes within float tolerance,
classes equal (or the stated nearest class), points and point labels equal; the archives are
deterministic and an unknown format is refused."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from backend.annotation.labels import BoxLabel
from backend.datasets.exports import FORMATS, export_zip
from backend.datasets.exports.common import box_point_counts
from backend.datasets.snapshot import DatasetFilter
from backend.datasets.versions import DatasetVersions, ExportFrame
from backend.errors import InvalidInputError
from core.classes import POINT_CLASS_IDS, POINT_CLASS_NAMES
from core.formats.dataset import frame_name, wrap_yaw
from core.formats.kitti_bin import read_kitti_bin
from core.formats.kitti_calib import read_kitti_calib
from core.formats.kitti_label import kitti_to_labels, read_kitti_label
from core.formats.nuscenes import (
    NuScenesBox,
    category_to_class,
    nuscenes_to_box,
    read_nuscenes_points,
)
from core.formats.openlabel import read_openlabel
from core.formats.semantic_kitti import read_point_labels
from core.formats.semantic_kitti_classes import (
    EXACT_CLASSES,
    LONGTAIL_TO_SEMANTIC_KITTI,
    SEMANTIC_KITTI_TO_LONGTAIL,
    from_semantic_kitti,
)
from tests.backend.annotation.world import World, make_world
from tests.backend.datasets.conftest import RULES, stock, versions_of

DEER = (12.0, 4.0, -1.0, 1.6, 0.5, 1.3, -0.4)


@pytest.fixture(scope="module")
def exported(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[World, DatasetVersions, str, list[ExportFrame]]]:
    world = make_world(tmp_path_factory.mktemp("exports"), rules=RULES)
    stock(world)
    world.store_frame(
        seed=7,
        t_s=120.0,
        detections=[("deer", 0.9, DEER), ("car", 0.9, (20.0, -3.0, -0.9, 4.0, 1.8, 1.5, 3.1))],
    )
    world.backend.annotation.builder.sync()
    versions = versions_of(world)
    digest = versions.build(DatasetFilter(), author="boss").version.digest
    frames = list(versions.frames(digest, versions.manifest(digest)))
    assert any(b.class_name == "deer" for f in frames for b in f.boxes)
    yield world, versions, digest, frames
    world.backend.close()


def unpack(
    versions: DatasetVersions, digest: str, fmt: str, into: Path
) -> tuple[bytes, dict[str, Any]]:
    data = b"".join(export_zip(versions, digest, fmt))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        archive.extractall(into)
    return data, json.loads((into / "longtail.json").read_text())


def assert_box(read: tuple[float, ...], box: BoxLabel, tol: float = 1e-9) -> None:
    assert read[:6] == pytest.approx(box.box[:6], abs=tol)
    assert abs(wrap_yaw(read[6] - box.box[6])) < tol


def test_kitti_round_trip(
    exported: tuple[World, DatasetVersions, str, list[ExportFrame]], tmp_path: Path
) -> None:
    _, versions, digest, frames = exported
    _, meta = unpack(versions, digest, "kitti", tmp_path)
    assert meta["dataset"] == digest and [r["frame_id"] for r in meta["frames"]] == [
        f.entry.id for f in frames
    ]
    for frame, row in zip(frames, meta["frames"], strict=True):
        name = frame_name(frame.entry.index)
        assert row["name"] == name
        assert np.array_equal(read_kitti_bin(tmp_path / "velodyne" / f"{name}.bin"), frame.points)
        calib = read_kitti_calib(tmp_path / "calib" / f"{name}.txt")
        objects = read_kitti_label(tmp_path / "label_2" / f"{name}.txt")
        labels = kitti_to_labels(objects, calib)
        assert [label.class_name for label in labels] == [b.class_name for b in frame.boxes]
        for label, box in zip(labels, frame.boxes, strict=True):
            assert_box(label.box, box)
        occluded = {"none": 0, "partly": 1, "mostly": 2}
        assert [o.occluded for o in objects] == [
            occluded.get(b.attributes.get("occluded", ""), 3) for b in frame.boxes
        ]
        assert [(o["id"], o["track_id"]) for o in row["objects"]] == [
            (b.id, b.track_id) for b in frame.boxes
        ]
    every = [o for p in (tmp_path / "label_2").iterdir() for o in read_kitti_label(p)]
    assert {o.type for o in every} == {"Car", "Truck", "Pedestrian", "deer"}
    assert [(o.type, o.occluded) for o in every if o.occluded != 3] == [("Pedestrian", 1)]


def test_nuscenes_round_trip(
    exported: tuple[World, DatasetVersions, str, list[ExportFrame]], tmp_path: Path
) -> None:
    _, versions, digest, frames = exported
    unpack(versions, digest, "nuscenes", tmp_path)
    tables = {p.stem: json.loads(p.read_text()) for p in (tmp_path / "v1.0-longtail").iterdir()}
    by_sample: dict[str, list[dict[str, Any]]] = {}
    for record in tables["sample_annotation"]:
        by_sample.setdefault(record["sample_token"], []).append(record)
    data_by_frame = {d["longtail_frame_id"]: d for d in tables["sample_data"]}
    for frame in frames:
        sd = data_by_frame[frame.entry.id]
        points = read_nuscenes_points(tmp_path / sd["filename"])
        assert np.array_equal(points[:, :3], frame.points[:, :3])
        assert np.allclose(points[:, 3], frame.points[:, 3], atol=1e-6)
        records = sorted(by_sample.get(sd["sample_token"], []), key=lambda r: r["longtail_box_id"])
        boxes = sorted(frame.boxes, key=lambda b: b.id)
        assert [r["longtail_class"] for r in records] == [b.class_name for b in boxes]
        for record, box in zip(records, boxes, strict=True):
            ns = NuScenesBox(
                tuple(record["translation"]), tuple(record["size"]), tuple(record["rotation"])
            )
            assert_box(nuscenes_to_box(ns, frame="lidar_top"), box)
            nearest = category_to_class(record["category_name"])
            assert nearest == (None if box.class_name == "deer" else box.class_name)
            assert record["num_lidar_pts"] == box_point_counts(frame.points, [box])[0] > 0
    # the tracked car of the three-frame sequence is one instance of three linked annotations
    longest = max(tables["instance"], key=lambda i: i["nbr_annotations"])
    assert longest["nbr_annotations"] == 3
    chain = {r["token"]: r for r in tables["sample_annotation"]}
    first = chain[longest["first_annotation_token"]]
    assert chain[chain[first["next"]]["next"]]["token"] == longest["last_annotation_token"]
    assert len(tables["scene"]) == len({f.entry.task for f in frames})


def test_openlabel_round_trip(
    exported: tuple[World, DatasetVersions, str, list[ExportFrame]], tmp_path: Path
) -> None:
    _, versions, digest, frames = exported
    unpack(versions, digest, "openlabel", tmp_path)
    read = read_openlabel(tmp_path / "openlabel.json")
    assert [f.index for f in read] == [f.entry.index for f in frames]
    document = json.loads((tmp_path / "openlabel.json").read_text())["openlabel"]
    for frame, labelled in zip(frames, read, strict=True):
        assert labelled.timestamp_ns == frame.entry.captured_at_ns
        assert labelled.pose == tuple(
            frame.entry.pose[k] for k in ("x", "y", "z", "roll", "pitch", "yaw")
        )
        assert [o.class_name for o in labelled.objects] == [b.class_name for b in frame.boxes]
        for obj, box in zip(labelled.objects, frame.boxes, strict=True):
            assert_box(obj.box, box, 1e-12)
        assert [o.num_points for o in labelled.objects] == box_point_counts(
            frame.points, list(frame.boxes)
        )
        props = document["frames"][str(frame.entry.index)]["frame_properties"]
        assert props["frame_id"] == frame.entry.id
        assert np.array_equal(
            read_kitti_bin(tmp_path / props["streams"]["lidar"]["uri"]), frame.points
        )
        for obj, box in zip(labelled.objects, frame.boxes, strict=True):
            text = document["frames"][str(frame.entry.index)]["objects"][str(obj.track_id)][
                "object_data"
            ]["text"]
            assert {t["name"]: t["val"] for t in text} == box.attributes
    sequence = [
        f
        for f in read
        if len(f.objects) == 2 and {o.class_name for o in f.objects} == {"car", "truck"}
    ]
    assert len(sequence) == 3 and len({o.track_id for f in sequence for o in f.objects}) == 2


def test_semantickitti_round_trip(
    exported: tuple[World, DatasetVersions, str, list[ExportFrame]], tmp_path: Path
) -> None:
    _, versions, digest, frames = exported
    _, meta = unpack(versions, digest, "semantickitti", tmp_path)
    sequence = tmp_path / "sequences" / "00"
    seen: set[str] = set()
    for frame in frames:
        name = frame_name(frame.entry.index)
        points = read_kitti_bin(sequence / "velodyne" / f"{name}.bin")
        assert np.array_equal(points, frame.points)
        labels = read_point_labels(sequence / "labels" / f"{name}.label", points.shape[0])
        assert frame.point_labels is not None
        assert np.array_equal(labels.instance, frame.point_labels.instance)
        back = from_semantic_kitti(labels.semantic)
        expected = np.array(
            [
                POINT_CLASS_IDS[
                    n
                    if n in EXACT_CLASSES
                    else SEMANTIC_KITTI_TO_LONGTAIL[LONGTAIL_TO_SEMANTIC_KITTI[n]]
                ]
                for n in (POINT_CLASS_NAMES[int(v)] for v in frame.point_labels.semantic)
            ],
            dtype=np.uint16,
        )
        assert np.array_equal(back, expected)
        seen |= {POINT_CLASS_NAMES[int(v)] for v in np.unique(frame.point_labels.semantic)}
    assert {"road", "car", "deer"} <= seen  # exact classes equal, deer comes back unknown_obstacle
    assert meta["class_map"]["deer"] == {"id": 99, "name": "other-object"}
    assert meta["unlabelled_frames"] == []


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_archives_are_deterministic(
    exported: tuple[World, DatasetVersions, str, list[ExportFrame]], fmt: str
) -> None:
    _, versions, digest, _ = exported
    first = b"".join(export_zip(versions, digest, fmt))
    assert first == b"".join(export_zip(versions, digest, fmt))


def test_an_unknown_format_is_refused(
    exported: tuple[World, DatasetVersions, str, list[ExportFrame]],
) -> None:
    _, versions, digest, _ = exported
    with pytest.raises(
        InvalidInputError,
        match="format 'las' is not one of kitti, nuscenes, openlabel, semantickitti",
    ):
        export_zip(versions, digest, "las")
