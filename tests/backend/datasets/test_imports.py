"""Imports of KITTI and SUSTechPOINTS labels on SQLite and PostgreSQL: an export imports back as
gold with the same boxes, classes map by the stated tables, unknown types are refused by name or
mapped on request, pre-labels get a new revision with recomputed point pre-labels, and bad input
is a precise error that stores nothing."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from backend.annotation import store
from backend.config import RoutingRuleConfig
from backend.datasets.exports import export_zip
from backend.datasets.imports import LabelImporter
from backend.datasets.snapshot import DatasetFilter
from backend.datasets.uploads import read_files
from backend.errors import ConflictError, InvalidInputError
from core.classes import POINT_CLASS_IDS
from core.formats.dataset import wrap_yaw
from core.formats.sustechpoints import box_to_sustech
from core.geometry import points_in_boxes
from tests.backend.annotation.world import CAR, PEDESTRIAN, World, make_world
from tests.backend.datasets.conftest import TRUCK, stock, versions_of


def importer(world: World) -> LabelImporter:
    return LabelImporter(
        world.backend.db, world.backend.blobs, world.backend.annotation.gold, world.clock
    )


def gold_tasks(world: World) -> list[int]:
    with world.backend.db.transaction("t") as uow:
        return [t.id for t in uow.tasks.all() if t.is_gold]


def gold_boxes(world: World, task_id: int) -> list[Any]:
    with world.backend.db.transaction("t") as uow:
        task = uow.tasks.require(task_id)
        assert task.is_gold and task.gold_label_set_id is not None
        return list(store.content(uow, task.gold_label_set_id).boxes)


def sustech(objects: list[tuple[str, str, tuple[float, ...]]]) -> list[dict[str, Any]]:
    return [
        box_to_sustech(box, "car", obj_id).to_json() | {"obj_type": t} for t, obj_id, box in objects
    ]


def test_a_kitti_export_imports_back_as_gold(world: World) -> None:
    stock(world)
    versions = versions_of(world)
    digest = versions.build(DatasetFilter(), author="boss").version.digest
    manifest = versions.manifest(digest)
    exported = {f.entry.id: f for f in versions.frames(digest, manifest)}
    upload = b"".join(export_zip(versions, digest, "kitti"))
    report = importer(world).run(
        read_files(upload, "application/zip"), fmt="kitti", target="gold", author="boss"
    )
    assert report.frames == 6 and report.boxes == 9 and len(report.tasks) == 6
    assert report.classes == {"Car": "car", "Truck": "truck", "Pedestrian": "pedestrian"}
    assert report.skipped == {} and report.unknown == {}
    tracks: dict[tuple[int, int], set[int]] = {}
    for task_id in report.tasks:
        boxes = gold_boxes(world, task_id)
        original = exported[boxes[0].frame_id].boxes if boxes else ()
        assert [b.class_name for b in boxes] == [b.class_name for b in original]
        for got, want in zip(boxes, original, strict=True):
            assert got.box[:6] == pytest.approx(want.box[:6], abs=1e-9)
            assert abs(wrap_yaw(got.box[6] - want.box[6])) < 1e-9
            tracks.setdefault((exported[got.frame_id].entry.task, want.track_id), set()).add(
                got.track_id
            )
        occluded = [b.attributes["occluded"] for b in boxes]
        assert occluded == [w.attributes.get("occluded", "none") for w in original]
    # one object of the source is one track here (the sequence's car and truck in three frames)
    assert all(len(ids) == 1 for ids in tracks.values())
    assert len({next(iter(ids)) for ids in tracks.values()}) == len(tracks)


def test_sustechpoints_labels_as_one_gold_sequence_with_tracks_and_mapped_types(
    world: World,
) -> None:
    a = world.store_frame(seed=1, detections=[])
    b = world.store_frame(seed=2, t_s=0.1, detections=[])
    moved = (CAR[0] + 1.0, *CAR[1:])
    files = {
        f"scene/label/{a.id}.json": json.dumps(
            sustech([("Car", "8", CAR), ("Van", "3", TRUCK), ("DontCare", "", CAR)])
        ).encode(),
        f"scene/label/{b.id}.json": json.dumps(
            {"frame": "x", "objs": sustech([("Car", "8", moved), ("Pedestrian", "", PEDESTRIAN)])}
        ).encode(),
    }
    report = importer(world).run(
        files, fmt="sustechpoints", target="gold", author="boss", group="upload", calibration=True
    )
    assert len(report.tasks) == 1 and report.boxes == 4 and report.skipped == {"DontCare": 1}
    assert report.classes == {"Car": "car", "Van": "truck", "Pedestrian": "pedestrian"}
    boxes = gold_boxes(world, report.tasks[0])
    cars = [x for x in boxes if x.class_name == "car"]
    by_frame = {x.frame_id: x for x in cars}
    assert set(by_frame) == {a.id, b.id} and cars[0].track_id == cars[1].track_id
    assert len({x.track_id for x in boxes}) == 3  # the car, the van, the pedestrian
    assert by_frame[b.id].box[:6] == pytest.approx(moved[:6])
    with world.backend.db.transaction("t") as uow:
        task = uow.tasks.require(report.tasks[0])
    assert task.is_calibration and task.frame_ids == (a.id, b.id)


def test_unknown_types_are_refused_by_name_or_mapped_on_request(world: World) -> None:
    frame = world.store_frame(seed=1, detections=[])
    files = {
        f"label/{frame.id}.json": json.dumps(
            sustech([("Bicycle", "1", CAR), ("Animal", "2", PEDESTRIAN), ("Car", "3", CAR)])
        ).encode()
    }
    with pytest.raises(
        InvalidInputError,
        match=rf"types with no class in ontology v1: 'Animal' \(label/{frame.id}.json object 2\); 'Bicycle' \(label/{frame.id}.json object 1\)",
    ):
        importer(world).run(files, fmt="sustechpoints", target="gold", author="boss")
    assert gold_tasks(world) == []
    report = importer(world).run(
        files, fmt="sustechpoints", target="gold", author="boss", unknown="unknown_obstacle"
    )
    assert report.unknown == {"Animal": 1, "Bicycle": 1}
    assert [x.class_name for x in gold_boxes(world, report.tasks[0])] == [
        "unknown_obstacle",
        "unknown_obstacle",
        "car",
    ]


@pytest.fixture
def tier2(db_url: str, tmp_path: Path) -> Iterator[World]:
    w = make_world(tmp_path, db_url, rules=(RoutingRuleConfig("all", "priority > -1000", tier=2),))
    try:
        yield w
    finally:
        w.backend.close()


def test_prelabels_get_a_new_revision_with_recomputed_point_labels(tier2: World) -> None:
    world = tier2
    # the cloud has points in both boxes; the import keeps only the pedestrian
    frame = world.store_frame(
        seed=1, detections=[("car", 0.4, CAR), ("pedestrian", 0.3, PEDESTRIAN)]
    )
    context = world.store_frame(
        seed=2, t_s=0.1, rules=["context:x"], detections=[("car", 0.4, CAR)]
    )
    world.backend.annotation.builder.sync()
    files = {
        f"label/{frame.id}.json": json.dumps(sustech([("Pedestrian", "5", PEDESTRIAN)])).encode()
    }
    report = importer(world).run(files, fmt="sustechpoints", target="prelabels", author="boss")
    with world.backend.db.transaction("t") as uow:
        (task,) = uow.tasks.all()
        prelabel = uow.label_sets.of_task(task.id, "prelabel")[0]
        content = store.content(uow, prelabel.id)
        revisions = uow.label_sets.revisions(prelabel.id)
        events = [e.action for e in uow.audit.list(task_id=task.id)]
    assert report.tasks == [task.id] and task.stage == "annotate"
    assert [r.author for r in revisions] == ["baseline-test", "import:boss"]
    kept = [b for b in content.boxes if b.frame_id == context.id]
    (imported,) = [b for b in content.boxes if b.frame_id == frame.id]
    assert [b.class_name for b in kept] == ["car"]  # the other frame's car stays
    assert kept[0].track_id == 1
    assert (imported.class_name, imported.score) == ("pedestrian", None)
    assert imported.track_id == 2  # above the tracks the set keeps: not the sequence's car
    assert set(content.points) == {frame.id, context.id}
    cloud = world.backend.blobs.get(frame.blob_key)
    from core.formats.codec import decode_frame

    points = decode_frame(cloud)
    labels = content.points[frame.id]
    inside = points_in_boxes(points, np.array([PEDESTRIAN]))
    above_ground = labels.semantic != POINT_CLASS_IDS["road"]
    person = (inside >= 0) & above_ground
    assert person.sum() > 100 and (labels.semantic[person] == POINT_CLASS_IDS["pedestrian"]).all()
    assert (labels.instance[person] == 2).all()
    assert not (labels.semantic == POINT_CLASS_IDS["car"]).any()  # the old pre-label is gone
    assert "prelabels.imported" in events
    annotator = world.person("ann", "annotator")
    assert annotator
    lease = world.backend.annotation.queue.next(world.who("ann"), "annotate")
    view = world.backend.annotation.editor.view(world.who("ann"), lease.assignment.id)
    assert view.prelabels is not None and view.prelabels.content.boxes == content.boxes


def test_prelabels_of_accepted_or_untasked_frames_are_refused(world: World) -> None:
    stocked = stock(world)
    accepted = stocked.frames["single"]
    files = {f"label/{accepted.id}.json": json.dumps(sustech([("Car", "1", CAR)])).encode()}
    with pytest.raises(ConflictError, match=rf"task \d+ of frame {accepted.id} is accepted"):
        importer(world).run(files, fmt="sustechpoints", target="prelabels", author="boss")
    fresh = world.store_frame(seed=40, t_s=500.0, detections=[])
    files = {f"label/{fresh.id}.json": json.dumps(sustech([("Car", "1", CAR)])).encode()}
    with pytest.raises(InvalidInputError, match=f"frame {fresh.id} has no task yet"):
        importer(world).run(files, fmt="sustechpoints", target="prelabels", author="boss")


def zipped(files: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


KITTI_CAR = b"Car 0.00 0 0.0 0 0 0 0 1.5 1.8 4.2 -2.0 1.73 10.0 0.0\n"


def corrupt_member() -> bytes:
    """A zip whose member's deflate stream is damaged (its directory is intact)."""
    data = bytearray(zipped({"label/a.json": bytes(range(256)) * 50}, zipfile.ZIP_DEFLATED))
    start = 30 + len("label/a.json")  # the member's local header, then its data
    for k in range(start + 2, start + 40):
        data[k] ^= 0x5A
    return bytes(data)


def test_bad_uploads_are_precise_and_store_nothing(world: World) -> None:
    frame = world.store_frame(seed=1, detections=[])
    from backend.datasets.exports.kitti import lidar_aligned_calib

    calib = lidar_aligned_calib().to_text().encode()
    far = b"Car 0.00 0 0.0 0 0 0 0 1.5 1.8 4.2 -2.0 1.73 900.0 0.0\n"
    cases: list[tuple[bytes, str, str]] = [
        (b"\x00\x01garbage", "application/octet-stream", "neither a zip archive nor JSON"),
        (b"PK\x03\x04broken", "application/zip", "not a readable zip archive"),
        (corrupt_member(), "application/zip", "not a readable zip archive: Error -3"),
        (b"[" * 100_000, "application/json", "neither a zip archive nor JSON: maximum recursion"),
        (b'{"files": []}', "application/json", "JSON must be"),
        (
            zipped({"label_2/000001.txt": KITTI_CAR}),
            "application/zip",
            r"'000001' is neither a frame id",
        ),
        (
            zipped({f"label_2/{frame.id}.txt": KITTI_CAR}),
            "application/zip",
            rf"no calib/{frame.id}.txt beside it",
        ),
        (zipped({"velodyne/1.bin": b""}), "application/zip", r"no label_2/\*.txt file"),
        (
            zipped({f"label_2/{'f' * 64}.txt": KITTI_CAR, f"calib/{'f' * 64}.txt": calib}),
            "application/zip",
            f"frame {'f' * 64} is not stored",
        ),
        (
            zipped({f"label_2/{frame.id}.txt": far, f"calib/{frame.id}.txt": calib}),
            "application/zip",
            rf"label_2/{frame.id}.txt object 1: box .* is outside the frame",
        ),
        (
            zipped({f"label_2/{frame.id}.txt": b"Car 1 2\n", f"calib/{frame.id}.txt": calib}),
            "application/zip",
            "line 1: expected 15 or 16 values",
        ),
        (
            zipped(
                {
                    f"label_2/{frame.id}.txt": KITTI_CAR.replace(b"Car", b"Zeppelin"),
                    f"calib/{frame.id}.txt": calib,
                }
            ),
            "application/zip",
            "'Zeppelin'",
        ),
    ]
    for data, content_type, message in cases:
        with pytest.raises(InvalidInputError, match=message):
            importer(world).run(
                read_files(data, content_type), fmt="kitti", target="gold", author="boss"
            )
    assert gold_tasks(world) == []
    with pytest.raises(InvalidInputError, match="format 'las' is not one of kitti, sustechpoints"):
        importer(world).run({"a": b""}, fmt="las", target="gold", author="boss")
    with pytest.raises(InvalidInputError, match="target 'train' is not one of gold, prelabels"):
        importer(world).run({"a": b""}, fmt="kitti", target="train", author="boss")
    ok = {
        "files": {
            f"label_2/{frame.id}.txt": KITTI_CAR.decode(),
            f"calib/{frame.id}.txt": calib.decode(),
        }
    }
    report = importer(world).run(
        read_files(json.dumps(ok).encode(), "application/json"),
        fmt="kitti",
        target="gold",
        author="boss",
    )
    (box,) = gold_boxes(world, report.tasks[0])
    assert box.box[:6] == pytest.approx((10.0, 2.0, -1.73 + 0.75, 4.2, 1.8, 1.5))
